#include "io/onnx_awq_fold.h"

#include <algorithm>
#include <cstring>
#include <map>

namespace lowbit {
namespace {

// A float initializer's values and dims; null when `name` is none.
const onnx::TensorProto* FloatInit(const onnx::GraphProto& g,
                                   const std::string& name,
                                   std::vector<float>* v) {
  for (const auto& t : g.initializer()) {
    if (t.name() != name) continue;
    if (t.data_type() != onnx::TensorProto::FLOAT || t.has_data_location())
      return nullptr;
    int64_t n = 1;
    for (int64_t d : t.dims()) n *= d;
    if (!t.raw_data().empty()) {
      if (static_cast<int64_t>(t.raw_data().size()) != 4 * n) return nullptr;
      v->resize(static_cast<size_t>(n));
      std::memcpy(v->data(), t.raw_data().data(), 4 * n);
    } else {
      if (t.float_data_size() != n) return nullptr;
      v->assign(t.float_data().begin(), t.float_data().end());
    }
    return &t;
  }
  return nullptr;
}

// Whether dims broadcast as one value per channel: n values, the dimension
// that meets axis `axis` of a rank-`rank` input holding them, the others 1.
bool PerChannel(const onnx::TensorProto& t, int64_t n, int rank, int axis) {
  const int r = t.dims_size();
  const int at = axis - (rank - r);  // numpy broadcasting aligns the right
  if (at < 0 || at >= r) return false;
  for (int k = 0; k < r; ++k) {
    if (t.dims(k) != (k == at ? n : 1)) return false;
  }
  return true;
}

// The number of nodes reading `name`, and whether it is a graph output.
int Readers(const onnx::GraphProto& g, const std::string& name) {
  int n = 0;
  for (const auto& nd : g.node()) {
    for (const auto& in : nd.input()) n += in == name;
  }
  for (const auto& o : g.output()) n += 100 * (o.name() == name);
  return n;
}

int Producer(const onnx::GraphProto& g, const std::string& name) {
  for (int i = 0; i < g.node_size(); ++i) {
    for (const auto& o : g.node(i).output()) {
      if (o == name) return i;
    }
  }
  return -1;
}

// Multiplies the float initializer `name` in place: element i by
// inv[(i / inner) % n] (its channel), keeping its name, dims and type; false
// when it is no float initializer read by one node alone.
bool ScaleInitInPlace(onnx::GraphProto& g, const std::string& name,
                      const std::vector<float>& inv, int64_t inner) {
  std::vector<float> v;
  if (FloatInit(g, name, &v) == nullptr || Readers(g, name) != 1) return false;
  const int64_t n = static_cast<int64_t>(inv.size());
  if (inner < 1 || static_cast<int64_t>(v.size()) % (n * inner) != 0) {
    return false;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] *= inv[(static_cast<int64_t>(i) / inner) % n];
  }
  for (auto& t : *g.mutable_initializer()) {
    if (t.name() != name) continue;
    t.clear_float_data();
    t.set_raw_data(v.data(), v.size() * 4);
  }
  return true;
}

int64_t Attr(const onnx::NodeProto& n, const std::string& name, int64_t def) {
  for (const auto& a : n.attribute()) {
    if (a.name() == name) return a.i();
  }
  return def;
}

// Folds into the layer that computes the reader's input: a Conv (for a Conv
// reader) or a MatMul / Gemm (for a MatMul or Gemm reader), optionally through
// an Add of a per-channel (or scalar) bias and a Relu (x / s commutes with
// Relu for s > 0). The layer's weight rows (Conv), columns (MatMul) or output
// channels (Gemm) and its bias are scaled in place: the weight keeps its name,
// so quantizing it later sees the folded values. Each tensor on the way must
// be read by the next node alone.
bool FoldIntoLayer(onnx::GraphProto& g, const std::string& x, bool conv,
                   const std::vector<float>& inv, int rank, std::string* how) {
  for (float v : inv) {
    if (!(v > 0.0f)) return false;
  }
  const int64_t n = static_cast<int64_t>(inv.size());
  std::string at = x, via;
  int p = Producer(g, at);
  if (p >= 0 && g.node(p).op_type() == "Relu" && g.node(p).domain().empty()) {
    at = g.node(p).input(0);
    via = " through Relu";
    if (Readers(g, at) != 1) return false;
    p = Producer(g, at);
  }
  // Add(layer, bias): the bias's position.
  int add = -1, add_in = -1;
  if (p >= 0 && g.node(p).op_type() == "Add" && g.node(p).domain().empty() &&
      g.node(p).input_size() == 2) {
    add = p;
    add_in = Producer(g, g.node(p).input(0)) >= 0 ? 1 : 0;
    at = g.node(p).input(1 - add_in);
    if (Readers(g, at) != 1) return false;
    p = Producer(g, at);
  }
  if (p < 0 || !g.node(p).domain().empty() || g.node(p).input_size() < 2) {
    return false;
  }
  const onnx::NodeProto& ly = g.node(p);
  const std::string op = ly.op_type();
  std::vector<float> wv;
  const onnx::TensorProto* w = FloatInit(g, ly.input(1), &wv);
  if (w == nullptr || (conv != (op == "Conv")) ||
      (op != "Conv" && op != "MatMul" && op != "Gemm")) {
    return false;
  }
  // The weight's layout: the output channel's stride (`inner`) and count.
  int64_t inner = 1, out = 0;
  if (op == "Conv") {
    if (w->dims_size() < 3) return false;
    out = w->dims(0);
    inner = static_cast<int64_t>(wv.size()) / std::max<int64_t>(1, out);
  } else if (op == "MatMul" || !Attr(ly, "transB", 0)) {
    if (w->dims_size() != 2 || (op == "Gemm" && Attr(ly, "transA", 0))) {
      return false;
    }
    out = w->dims(1);
  } else {
    if (w->dims_size() != 2 || Attr(ly, "transA", 0)) return false;
    out = w->dims(0);
    inner = w->dims(1);
  }
  if (out != n) return false;
  // Every tensor checked before any is changed.
  std::vector<float> bv, av;
  const bool has_bias = (op == "Conv" || op == "Gemm") &&
                        ly.input_size() >= 3 && !ly.input(2).empty();
  if (has_bias) {
    const onnx::TensorProto* b = FloatInit(g, ly.input(2), &bv);
    if (b == nullptr || static_cast<int64_t>(bv.size()) != n ||
        Readers(g, ly.input(2)) != 1) {
      return false;
    }
  }
  if (add >= 0) {
    const onnx::TensorProto* b = FloatInit(g, g.node(add).input(add_in), &av);
    if (b == nullptr || Readers(g, g.node(add).input(add_in)) != 1 ||
        !(av.size() == 1 || PerChannel(*b, n, rank, 1))) {
      return false;
    }
  }
  if (Readers(g, ly.input(1)) != 1) return false;
  ScaleInitInPlace(g, ly.input(1), inv, inner);
  if (has_bias) ScaleInitInPlace(g, ly.input(2), inv, 1);
  if (add >= 0) {
    const std::string name = g.node(add).input(add_in);
    if (av.size() == 1) {  // a scalar bias becomes per channel
      av.assign(static_cast<size_t>(n), av[0]);
      for (auto& t : *g.mutable_initializer()) {
        if (t.name() != name) continue;
        t.clear_dims();
        t.add_dims(n);
        for (int d = 2; d < rank; ++d) t.add_dims(1);
        t.clear_float_data();
        t.set_raw_data(av.data(), av.size() * 4);
      }
    }
    ScaleInitInPlace(g, name, inv, 1);
  }
  *how = op + (add >= 0 ? "+Add" : "") + via;
  return true;
}

}  // namespace

bool FoldInputScale(onnx::GraphProto& g, int reader,
                    const std::vector<float>& inv, int weight_rank,
                    int64_t* stored_bytes, std::string* how) {
  const onnx::NodeProto& rd = g.node(reader);
  const std::string& x = rd.input(0);
  const bool conv = rd.op_type() == "Conv";
  // The input's channel axis: 1 of Conv's NC... input (as many axes as its
  // weight); the last for MatMul and Gemm (axis 1 of a rank-2 view: constants
  // align on the right, so a per-channel constant meets the last axis
  // whatever the rank).
  const int rank = conv ? weight_rank : 2, axis = 1;
  if (rank < 2) return false;
  const int64_t n = static_cast<int64_t>(inv.size());
  const int p = Producer(g, x);
  if (p < 0 || Readers(g, x) != 1) return false;
  if (FoldIntoLayer(g, x, conv, inv, rank, how)) return true;
  const onnx::NodeProto& pd = g.node(p);
  if (!pd.domain().empty()) return false;
  // The constants to divide: (node, input index).
  std::vector<std::pair<int, int>> targets;
  if (pd.op_type() == "BatchNormalization" && conv && pd.input_size() == 5 &&
      pd.output_size() == 1) {
    targets = {{p, 1}, {p, 2}};
  } else if (pd.op_type() == "Add" && pd.input_size() == 2) {
    // Add(Mul(y, a), b), either operand order.
    const int ab = Producer(g, pd.input(0)) >= 0 ? 1 : 0;
    const std::string& mo = pd.input(1 - ab);
    const int m = Producer(g, mo);
    if (m < 0 || Readers(g, mo) != 1) return false;
    const onnx::NodeProto& md = g.node(m);
    if (md.op_type() != "Mul" || !md.domain().empty() || md.input_size() != 2) {
      return false;
    }
    const int ma = Producer(g, md.input(0)) >= 0 ? 1 : 0;
    targets = {{m, ma}, {p, ab}};
  } else {
    return false;
  }
  std::vector<std::vector<float>> vals(targets.size());
  std::vector<std::vector<int64_t>> dims(targets.size());
  for (size_t k = 0; k < targets.size(); ++k) {
    const auto [node, in] = targets[k];
    const onnx::TensorProto* t = FloatInit(g, g.node(node).input(in), &vals[k]);
    if (t == nullptr) return false;
    dims[k].assign(t->dims().begin(), t->dims().end());
    const bool bn = g.node(node).op_type() == "BatchNormalization";
    if (!bn && vals[k].size() == 1 && t->dims_size() <= rank) {
      // A scalar (a learnable activation's slope and offset): the same value
      // for every channel, stored per channel once folded.
      vals[k].assign(static_cast<size_t>(n), vals[k][0]);
      dims[k] = {n};
      for (int d = axis + 1; d < rank; ++d) dims[k].push_back(1);
      continue;
    }
    if (bn ? !(t->dims_size() == 1 && t->dims(0) == n)
           : !PerChannel(*t, n, rank, axis)) {
      return false;
    }
  }
  for (size_t k = 0; k < targets.size(); ++k) {
    const auto [node, in] = targets[k];
    const std::string old = g.node(node).input(in);
    std::vector<float> v = vals[k];
    for (int64_t c = 0; c < n; ++c) v[c] *= inv[c];
    const std::string name =
        rd.input(1) + "/lowbit_awq_folded_" + std::to_string(k) + "_" + old;
    onnx::TensorProto* t = g.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims[k]) t->add_dims(d);
    t->set_raw_data(v.data(), v.size() * 4);
    *stored_bytes += static_cast<int64_t>(v.size() * 4);
    g.mutable_node(node)->set_input(in, name);
    if (Readers(g, old) == 0) {
      auto* inits = g.mutable_initializer();
      for (int i = 0; i < inits->size(); ++i) {
        if (inits->Get(i).name() == old) {
          inits->DeleteSubrange(i, 1);
          break;
        }
      }
    }
  }
  *how =
      pd.op_type() == "BatchNormalization" ? "BatchNormalization" : "Mul+Add";
  return true;
}

}  // namespace lowbit
