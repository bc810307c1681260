#include "graph/fuse.h"

#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "graph/qweight.h"

namespace lowbit::graph {
namespace {

struct Uses {
  std::vector<std::vector<int>> readers;  // value id -> node indices
  std::set<int> outputs;                  // graph outputs
};

Uses CountUses(const Graph& g, const std::vector<char>& dead) {
  Uses u;
  u.readers.assign(g.value_names.size(), {});
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (dead[i]) continue;
    for (int v : g.nodes[i].inputs) {
      if (v >= 0) u.readers[v].push_back(static_cast<int>(i));
    }
  }
  u.outputs.insert(g.output_ids.begin(), g.output_ids.end());
  return u;
}

// The only reader of value v, or -1 (several, none, or a graph output).
int SoleReader(const Uses& u, int v) {
  if (u.outputs.count(v) || u.readers[v].size() != 1) return -1;
  return u.readers[v][0];
}

const Tensor* ConstOf(const Graph& g, int v) {
  auto it = g.constants.find(v);
  return it == g.constants.end() ? nullptr : &it->second;
}

const QuantWeight* QuantOf(const Graph& g, int v) {
  auto it = g.qweights.find(v);
  return it == g.qweights.end() ? nullptr : it->second.get();
}

// The per-channel values of a constant operand broadcast against an
// N x C x ... conv output: C values (or one, repeated), else empty.
std::vector<float> PerChannel(const Tensor& t, int64_t channels, int rank) {
  if (t.dtype() != DType::kF32) return {};
  const int64_t n = t.numel();
  if (n == 1)
    return std::vector<float>(static_cast<size_t>(channels),
                              t.data<float>()[0]);
  if (n != channels) return {};
  // The channel must sit at axis 1 of the output: shape [C, 1, ...] with
  // rank - 1 dims, or [1, C, 1, ...] with rank dims.
  const Shape& s = t.shape();
  const int r = static_cast<int>(s.size());
  const int axis = r - (rank - 1);  // index of C within s when aligned right
  if (axis < 0 || s[axis] != channels) return {};
  for (int i = 0; i < r; ++i) {
    if (i != axis && s[i] != 1) return {};
  }
  return std::vector<float>(t.data<float>(), t.data<float>() + n);
}

// Conv weight [M, C/g, k...] and bias [M] as new constants (never edits a
// tensor another node may share).
// A quantized weight (graph/qweight.h) with a scale per output channel (or
// per group of it) takes the factors into its scales instead: a copy, its
// scales in f32.
bool ScaleConv(Graph& g, Node& conv, const std::vector<float>& scale,
               const std::vector<float>& shift) {
  const Tensor* w = ConstOf(g, conv.inputs[1]);
  const QuantWeight* qw = QuantOf(g, conv.inputs[1]);
  // ConvTranspose's weight is [C, M/group, k...]: output channel o of group
  // j is column o % (M/group) of rows [j C/group, (j + 1) C/group).
  const bool transpose = conv.op == "ConvTranspose";
  const int64_t group = conv.Int("group", 1);
  if (transpose && (qw != nullptr || w == nullptr || w->rank() < 3 ||
                    group < 1 || w->dim(0) % group != 0)) {
    return false;
  }
  if (qw != nullptr) {
    if (qw->shape.size() < 3 || qw->axis != 0 ||
        qw->q.granularity == Granularity::kTensor ||
        qw->q.scheme.kind == SchemeKind::kKmeans ||
        qw->q.scheme.kind == SchemeKind::kMxfp4 || qw->fast != nullptr) {
      return false;
    }
  } else if (w == nullptr || w->dtype() != DType::kF32 || w->rank() < 3) {
    return false;
  }
  const int64_t m = qw != nullptr ? qw->shape[0]
                    : transpose   ? w->dim(1) * group
                                  : w->dim(0);
  if (static_cast<int64_t>(scale.size()) != m) return false;
  const Tensor* b = conv.Has(2) ? ConstOf(g, conv.inputs[2]) : nullptr;
  if (conv.Has(2) &&
      (b == nullptr || b->numel() != m || b->dtype() != DType::kF32)) {
    return false;
  }
  Tensor nw;
  std::shared_ptr<QuantWeight> nq;
  if (qw != nullptr) {
    nq = std::make_shared<QuantWeight>(*qw);
    nq->q.scale_type = ScaleType::kF32;
    const int64_t per = static_cast<int64_t>(nq->q.scales.size()) / m;
    for (int64_t o = 0; o < m; ++o) {
      for (int64_t i = 0; i < per; ++i) nq->q.scales[o * per + i] *= scale[o];
    }
  } else if (transpose) {
    nw = Tensor::Zeros(DType::kF32, w->shape());
    const int64_t mg = w->dim(1), cg = w->dim(0) / group;
    const int64_t taps = w->numel() / (w->dim(0) * mg);
    for (int64_t c = 0; c < w->dim(0); ++c) {
      for (int64_t o = 0; o < mg; ++o) {
        const float f = scale[c / cg * mg + o];
        const int64_t at = (c * mg + o) * taps;
        for (int64_t t = 0; t < taps; ++t) {
          nw.data<float>()[at + t] = w->data<float>()[at + t] * f;
        }
      }
    }
  } else {
    nw = Tensor::Zeros(DType::kF32, w->shape());
    const int64_t per = w->numel() / m;
    for (int64_t o = 0; o < m; ++o) {
      for (int64_t i = 0; i < per; ++i) {
        nw.data<float>()[o * per + i] =
            w->data<float>()[o * per + i] * scale[o];
      }
    }
  }
  Tensor nb = Tensor::Zeros(DType::kF32, {m});
  for (int64_t o = 0; o < m; ++o) {
    const float b0 = b != nullptr ? b->data<float>()[o] : 0.0f;
    nb.data<float>()[o] = b0 * scale[o] + shift[o];
  }
  const std::string base = g.value_names[conv.outputs[0]];
  const int wid = g.ValueId(base + "/lowbit_fused_w");
  const int bid = g.ValueId(base + "/lowbit_fused_b");
  if (nq != nullptr) {
    g.qweights[wid] = std::move(nq);
  } else {
    g.constants[wid] = std::move(nw);
  }
  g.constants[bid] = std::move(nb);
  conv.inputs.resize(3);
  conv.inputs[1] = wid;
  conv.inputs[2] = bid;
  return true;
}

// The number of output channels of a Conv whose weight is a constant, and
// the weight's rank.
int64_t ConvChannels(const Graph& g, const Node& conv, int* rank) {
  if (const QuantWeight* q = QuantOf(g, conv.inputs[1])) {
    *rank = static_cast<int>(q->shape.size());
    return *rank >= 3 ? q->shape[0] : -1;
  }
  const Tensor* w = ConstOf(g, conv.inputs[1]);
  *rank = w != nullptr ? w->rank() : 0;
  if (w == nullptr || w->rank() < 3) return -1;
  return conv.op == "ConvTranspose" ? w->dim(1) * conv.Int("group", 1)
                                    : w->dim(0);
}

// Folds the affine node `next` (BatchNormalization, Mul or Add reading the
// conv's output and constants) into conv. True when done.
bool FoldAffine(Graph& g, Node& conv, const Node& next) {
  int rank = 0;  // the conv output has the weight's rank
  const int64_t m = ConvChannels(g, conv, &rank);
  if (m <= 0) return false;
  std::vector<float> scale(static_cast<size_t>(m), 1.0f),
      shift(static_cast<size_t>(m), 0.0f);
  if (next.op == "BatchNormalization") {
    if (next.outputs.size() > 1 && next.outputs[1] >= 0) return false;
    if (next.inputs[0] != conv.outputs[0]) return false;
    std::vector<const Tensor*> p;
    for (int k = 1; k <= 4; ++k) {
      const Tensor* t =
          k < next.num_inputs() ? ConstOf(g, next.inputs[k]) : nullptr;
      if (t == nullptr || t->dtype() != DType::kF32 || t->numel() != m)
        return false;
      p.push_back(t);
    }
    const float eps = next.Float("epsilon", 1e-5f);
    for (int64_t c = 0; c < m; ++c) {
      const float s =
          p[0]->data<float>()[c] / std::sqrt(p[3]->data<float>()[c] + eps);
      scale[c] = s;
      shift[c] = p[1]->data<float>()[c] - p[2]->data<float>()[c] * s;
    }
  } else {
    const int other = next.inputs[0] == conv.outputs[0] ? 1 : 0;
    if (next.inputs[1 - other] != conv.outputs[0]) return false;
    const Tensor* t = ConstOf(g, next.inputs[other]);
    if (t == nullptr) return false;
    const std::vector<float> v = PerChannel(*t, m, rank);
    if (v.empty()) return false;
    if (next.op == "Mul") {
      scale = v;
    } else if (next.op == "Add") {
      shift = v;
    } else {
      return false;
    }
  }
  return ScaleConv(g, conv, scale, shift);
}

// True when node n is `op` with constant input k equal to v (scalar).
bool ScalarConst(const Graph& g, const Node& n, int k, float v) {
  if (!n.Has(k)) return false;
  const Tensor* t = ConstOf(g, n.inputs[k]);
  return t != nullptr && t->dtype() == DType::kF32 && t->numel() == 1 &&
         t->data<float>()[0] == v;
}

}  // namespace

FuseStats FuseGraph(Graph& g) {
  FuseStats st;
  std::vector<char> dead(g.nodes.size(), 0);
  bool changed = true;
  while (changed) {
    changed = false;
    Uses u = CountUses(g, dead);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (dead[i]) continue;
      Node& n = g.nodes[i];
      // Conv + activation + Mul / Add of a scalar constant (PaddleOCR's
      // learnable affine after HardSwish): y = act(conv) * a + b in the
      // epilogue, the same two float operations as the nodes.
      if (n.op == "Conv" && n.domain.empty() &&
          n.Find("lowbit.activation") != nullptr) {
        const int r = SoleReader(u, n.outputs[0]);
        if (r >= 0 && (g.nodes[r].op == "Mul" || g.nodes[r].op == "Add") &&
            g.nodes[r].domain.empty() && g.nodes[r].num_inputs() == 2) {
          const Node& next = g.nodes[r];
          const int other = next.inputs[0] == n.outputs[0] ? 1 : 0;
          const Tensor* t = ConstOf(g, next.inputs[other]);
          if (next.inputs[1 - other] == n.outputs[0] && t != nullptr &&
              t->dtype() == DType::kF32 && t->numel() == 1 && t->rank() <= 1) {
            std::vector<float> post = {1.0f, 0.0f};
            if (const Attribute* pa = n.Find("lowbit.post_affine")) {
              post = pa->floats;
            }
            const float v = t->data<float>()[0];
            // One Mul, then one Add: exactly the nodes' roundings.
            const bool fresh = post[0] == 1.0f && post[1] == 0.0f;
            if (next.op == "Mul" ? !fresh : post[1] != 0.0f) continue;
            if (next.op == "Mul") {
              post[0] = v;
            } else {
              post[1] = v;
            }
            Attribute a;
            a.kind = Attribute::Kind::kFloats;
            a.floats = post;
            n.attrs["lowbit.post_affine"] = a;
            n.outputs[0] = next.outputs[0];
            dead[r] = 1;
            ++st.post_affine;
            changed = true;
            break;
          }
        }
      }
      // Conv or ConvTranspose + BatchNormalization / Mul / Add of constants.
      if ((n.op == "Conv" || n.op == "ConvTranspose") && n.domain.empty() &&
          n.Find("lowbit.activation") == nullptr) {
        const int r = SoleReader(u, n.outputs[0]);
        if (r < 0) continue;
        Node& next = g.nodes[r];
        if ((next.op == "BatchNormalization" || next.op == "Mul" ||
             next.op == "Add") &&
            next.domain.empty() && FoldAffine(g, n, next)) {
          n.outputs[0] = next.outputs[0];
          dead[r] = 1;
          ++st.folded_affine;
          changed = true;
          break;
        }
      }
      // HardSwish: a = Add(x, 3); c = Clip(a, 0, 6); m = Mul(x, c); Div(m, 6).
      if (n.op == "Add" && n.domain.empty() && ScalarConst(g, n, 1, 3.0f)) {
        const int x = n.inputs[0];
        const int ci = SoleReader(u, n.outputs[0]);
        if (ci < 0 || g.nodes[ci].op != "Clip") continue;
        const Node& clip = g.nodes[ci];
        const bool range =
            (ScalarConst(g, clip, 1, 0.0f) && ScalarConst(g, clip, 2, 6.0f)) ||
            (!clip.Has(1) && clip.Float("min", -1) == 0.0f &&
             clip.Float("max", -1) == 6.0f);
        if (!range) continue;
        const int mi = SoleReader(u, clip.outputs[0]);
        if (mi < 0 || g.nodes[mi].op != "Mul") continue;
        const Node& mul = g.nodes[mi];
        const bool uses_x =
            (mul.inputs[0] == x && mul.inputs[1] == clip.outputs[0]) ||
            (mul.inputs[1] == x && mul.inputs[0] == clip.outputs[0]);
        if (!uses_x) continue;
        const int di = SoleReader(u, mul.outputs[0]);
        if (di < 0 || g.nodes[di].op != "Div" ||
            !ScalarConst(g, g.nodes[di], 1, 6.0f)) {
          continue;
        }
        Node hs;
        hs.op = "HardSwish";
        hs.name = g.nodes[di].name + "/lowbit_hardswish";
        hs.inputs = {x};
        hs.outputs = {g.nodes[di].outputs[0]};
        dead[ci] = dead[mi] = dead[di] = 1;
        n = hs;  // the Add becomes the HardSwish
        ++st.hardswish;
        changed = true;
        break;
      }
      // Conv or ConvTranspose + activation.
      if ((n.op == "Conv" || n.op == "ConvTranspose") && n.domain.empty() &&
          n.Find("lowbit.activation") == nullptr) {
        const int r = SoleReader(u, n.outputs[0]);
        if (r < 0) continue;
        const Node& act = g.nodes[r];
        if (!act.domain.empty()) continue;
        Attribute a;
        a.kind = Attribute::Kind::kString;
        std::vector<float> params;
        if (act.op == "Relu" || act.op == "Sigmoid" || act.op == "HardSwish") {
          a.s = act.op;
        } else if (act.op == "LeakyRelu") {
          a.s = act.op;
          params = {act.Float("alpha", 0.01f)};
        } else if (act.op == "HardSigmoid") {
          a.s = act.op;
          params = {act.Float("alpha", 0.2f), act.Float("beta", 0.5f)};
        } else if (act.op == "Clip") {
          float lo = -INFINITY, hi = INFINITY;
          if (g.opset() < 11) {
            lo = act.Float("min", lo);
            hi = act.Float("max", hi);
          } else {
            const Tensor* tl = act.Has(1) ? ConstOf(g, act.inputs[1]) : nullptr;
            const Tensor* th = act.Has(2) ? ConstOf(g, act.inputs[2]) : nullptr;
            if ((act.Has(1) && tl == nullptr) || (act.Has(2) && th == nullptr))
              continue;
            if (tl != nullptr) lo = static_cast<float>(tl->GetDouble(0));
            if (th != nullptr) hi = static_cast<float>(th->GetDouble(0));
          }
          a.s = "Clip";
          params = {lo, hi};
        } else {
          continue;
        }
        n.attrs["lowbit.activation"] = a;
        Attribute p;
        p.kind = Attribute::Kind::kFloats;
        p.floats = params;
        n.attrs["lowbit.activation_params"] = p;
        n.outputs[0] = act.outputs[0];
        dead[r] = 1;
        ++st.activations;
        changed = true;
        break;
      }
    }
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!dead[i]) kept.push_back(std::move(g.nodes[i]));
  }
  g.nodes = std::move(kept);
  return st;
}

}  // namespace lowbit::graph
