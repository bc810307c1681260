// Recurrent layers on f32: LSTM (gates i, o, f, c; peepholes, input_forget)
// and GRU (gates z, r, h; linear_before_reset), ONNX opsets 1 to 22: one
// layer, forward, reverse or bidirectional, sequence_lens per batch entry,
// layout 0 ([seq, batch, ...]) or 1 ([batch, seq, ...], opset 14). X·W^T is
// one product over every time step; H·R^T one product per step.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "graph/ops/families.h"
#include "kernels/sgemm.h"

namespace lowbit::graph {
namespace {

enum class Cell { kLstm, kGru };

// An activation of the recurrence, with its alpha and beta (ONNX's list:
// the optional ones too).
struct Act {
  enum Kind {
    kSigmoid,
    kTanh,
    kRelu,
    kAffine,
    kLeakyRelu,
    kThresholdedRelu,
    kScaledTanh,
    kHardSigmoid,
    kElu,
    kSoftsign,
    kSoftplus
  };
  Kind kind = kSigmoid;
  float alpha = 0.0f, beta = 0.0f;
};

struct ActName {
  const char* name;
  Act::Kind kind;
  int uses;  // 0: none, 1: alpha, 2: alpha and beta
  float alpha, beta;
};

constexpr ActName kActs[] = {
    {"sigmoid", Act::kSigmoid, 0, 0.0f, 0.0f},
    {"tanh", Act::kTanh, 0, 0.0f, 0.0f},
    {"relu", Act::kRelu, 0, 0.0f, 0.0f},
    {"affine", Act::kAffine, 2, 1.0f, 0.0f},
    {"leakyrelu", Act::kLeakyRelu, 1, 0.01f, 0.0f},
    {"thresholdedrelu", Act::kThresholdedRelu, 1, 1.0f, 0.0f},
    {"scaledtanh", Act::kScaledTanh, 2, 1.0f, 1.0f},
    {"hardsigmoid", Act::kHardSigmoid, 2, 0.2f, 0.5f},
    {"elu", Act::kElu, 1, 1.0f, 0.0f},
    {"softsign", Act::kSoftsign, 0, 0.0f, 0.0f},
    {"softplus", Act::kSoftplus, 0, 0.0f, 0.0f},
};

const ActName* FindAct(const std::string& name) {
  std::string lower = name;
  for (char& ch : lower) {
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  for (const ActName& a : kActs) {
    if (lower == a.name) return &a;
  }
  return nullptr;
}

// y = act(y) over n values.
void Apply(const Act& a, float* y, int64_t n) {
  switch (a.kind) {
    case Act::kSigmoid:
      for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-y[i]));
      return;
    case Act::kTanh:
      for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(y[i]);
      return;
    case Act::kRelu:
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
      return;
    case Act::kAffine:
      for (int64_t i = 0; i < n; ++i) y[i] = a.alpha * y[i] + a.beta;
      return;
    case Act::kLeakyRelu:
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] >= 0 ? y[i] : a.alpha * y[i];
      return;
    case Act::kThresholdedRelu:
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] > a.alpha ? y[i] : 0.0f;
      return;
    case Act::kScaledTanh:
      for (int64_t i = 0; i < n; ++i) y[i] = a.alpha * std::tanh(a.beta * y[i]);
      return;
    case Act::kHardSigmoid:
      for (int64_t i = 0; i < n; ++i) {
        y[i] = std::min(1.0f, std::max(0.0f, a.alpha * y[i] + a.beta));
      }
      return;
    case Act::kElu:
      for (int64_t i = 0; i < n; ++i) {
        y[i] = y[i] >= 0 ? y[i] : a.alpha * (std::exp(y[i]) - 1.0f);
      }
      return;
    case Act::kSoftsign:
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] / (1.0f + std::fabs(y[i]));
      return;
    case Act::kSoftplus:
      for (int64_t i = 0; i < n; ++i) y[i] = std::log1p(std::exp(y[i]));
      return;
  }
}

// Everything the attributes say, judged once at load and again (cheaply) at
// run time.
struct Config {
  Cell cell = Cell::kLstm;
  int gates = 4;         // rows of W per hidden unit: 4 (LSTM), 3 (GRU)
  int acts = 3;          // activations per direction: f, g, h / f, g
  int dirs = 1;          // 2 when bidirectional
  bool reverse = false;  // the one direction runs backwards
  float clip = 0.0f;     // 0: none
  bool input_forget = false, linear_before_reset = false;
  int layout = 0;
  int64_t hidden = -1;  // the attribute, -1 when absent
  Act act[6];           // per direction: f, g, (h)
};

Status ParseConfig(const Graph& g, const Node& n, Config* cfg) {
  auto fail = [&](const std::string& m) {
    return InvalidArgument(g.NodeLabel(n) + ": " + m);
  };
  cfg->cell = n.op == "LSTM" ? Cell::kLstm : Cell::kGru;
  cfg->gates = cfg->cell == Cell::kLstm ? 4 : 3;
  cfg->acts = cfg->cell == Cell::kLstm ? 3 : 2;
  const std::string dir = n.String("direction", "forward");
  if (dir == "forward" || dir == "reverse") {
    cfg->dirs = 1;
    cfg->reverse = dir == "reverse";
  } else if (dir == "bidirectional") {
    cfg->dirs = 2;
  } else {
    return fail("direction '" + dir +
                "' is not forward, reverse or bidirectional");
  }
  if (n.Find("clip") != nullptr) {
    cfg->clip = n.Float("clip", 0.0f);
    if (!(cfg->clip > 0.0f)) {
      return fail("clip " + std::to_string(cfg->clip) + " must be positive");
    }
  }
  cfg->input_forget = n.Int("input_forget", 0) != 0;
  cfg->linear_before_reset = n.Int("linear_before_reset", 0) != 0;
  cfg->layout = static_cast<int>(n.Int("layout", 0));
  if (cfg->layout != 0 && cfg->layout != 1) {
    return fail("layout " + std::to_string(cfg->layout) + " is not 0 or 1");
  }
  cfg->hidden = n.Int("hidden_size", -1);
  if (n.Find("hidden_size") != nullptr && cfg->hidden <= 0) {
    return fail("hidden_size " + std::to_string(cfg->hidden) +
                " must be positive");
  }
  std::vector<std::string> names;
  if (const Attribute* a = n.Find("activations")) {
    if (a->kind != Attribute::Kind::kStrings) {
      return fail("activations must be a list of strings");
    }
    names = a->strings;
  } else if (cfg->cell == Cell::kLstm) {
    names = {"Sigmoid", "Tanh", "Tanh"};
  } else {
    names = {"Sigmoid", "Tanh"};
  }
  const int want = cfg->acts * cfg->dirs;
  if (static_cast<int>(names.size()) == cfg->acts && cfg->dirs == 2) {
    const std::vector<std::string> one = names;  // both ways
    names.insert(names.end(), one.begin(), one.end());
  }
  if (static_cast<int>(names.size()) != want) {
    return fail(std::to_string(names.size()) + " activations; " + n.op +
                " takes " + std::to_string(want) + " (" +
                std::to_string(cfg->acts) + " per direction)");
  }
  const std::vector<float> no;
  const Attribute* al = n.Find("activation_alpha");
  const Attribute* be = n.Find("activation_beta");
  const std::vector<float>& alphas = al != nullptr ? al->floats : no;
  const std::vector<float>& betas = be != nullptr ? be->floats : no;
  size_t ai = 0, bi = 0;  // consumed in order by the functions that use them
  for (int k = 0; k < want; ++k) {
    const ActName* a = FindAct(names[k]);
    if (a == nullptr) {
      return fail("activation '" + names[k] +
                  "' is not supported (Sigmoid, Tanh, Relu, Affine, "
                  "LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, "
                  "Softsign, Softplus)");
    }
    Act& x = cfg->act[k];
    x.kind = a->kind;
    x.alpha = a->alpha;
    x.beta = a->beta;
    if (a->uses >= 1 && ai < alphas.size()) x.alpha = alphas[ai++];
    if (a->uses >= 2 && bi < betas.size()) x.beta = betas[bi++];
  }
  return Status::Ok();
}

Status RnnCheck(const Graph& g, const Node& n) {
  Config cfg;
  return ParseConfig(g, n, &cfg);
}

// Input positions.
constexpr int kX = 0, kW = 1, kR = 2, kB = 3, kLens = 4, kH0 = 5, kC0 = 6,
              kP = 7;

Status RnnInfer(InferContext& c) {
  Config cfg;
  LB_RETURN_IF_ERROR(ParseConfig(c.graph(), c.node(), &cfg));
  const char* names[] = {"X",         "W",         "R", "B", "sequence_lens",
                         "initial_h", "initial_c", "P"};
  for (int k = 0; k < c.num_inputs(); ++k) {
    if (!c.has(k) || k == kLens) continue;
    if (c.in(k).dtype != DType::kF32) {
      return c.Fail(std::string(names[k]) + " must be f32, not " +
                    std::string(DTypeName(c.in(k).dtype)));
    }
  }
  const Shape& x = c.in(kX).shape;
  const Shape& r = c.in(kR).shape;
  if (x.size() != 3) {
    return c.Fail("X has shape " + ShapeString(x) + "; expected 3 dimensions");
  }
  const int64_t seq = cfg.layout == 0 ? x[0] : x[1];
  const int64_t batch = cfg.layout == 0 ? x[1] : x[0];
  const int64_t input = x[2];
  if (r.size() != 3 || r[0] != cfg.dirs || r[1] != cfg.gates * r[2]) {
    return c.Fail("R has shape " + ShapeString(r) + "; expected [" +
                  std::to_string(cfg.dirs) + ", " + std::to_string(cfg.gates) +
                  " * hidden_size, hidden_size]");
  }
  const int64_t hidden = r[2];
  if (cfg.hidden >= 0 && cfg.hidden != hidden) {
    return c.Fail("hidden_size " + std::to_string(cfg.hidden) +
                  " does not match R " + ShapeString(r));
  }
  auto expect = [&](int k, const Shape& want) -> Status {
    if (c.has(k) && c.in(k).shape != want) {
      return c.Fail(std::string(names[k]) + " has shape " +
                    ShapeString(c.in(k).shape) + "; expected " +
                    ShapeString(want));
    }
    return Status::Ok();
  };
  const int64_t gh = cfg.gates * hidden;
  LB_RETURN_IF_ERROR(expect(kW, {cfg.dirs, gh, input}));
  LB_RETURN_IF_ERROR(expect(kB, {cfg.dirs, 2 * gh}));
  LB_RETURN_IF_ERROR(expect(kLens, {batch}));
  if (c.has(kLens) && c.in(kLens).dtype != DType::kI32 &&
      c.in(kLens).dtype != DType::kI64) {
    return c.Fail("sequence_lens must be i32, not " +
                  std::string(DTypeName(c.in(kLens).dtype)));
  }
  const Shape state = cfg.layout == 0 ? Shape{cfg.dirs, batch, hidden}
                                      : Shape{batch, cfg.dirs, hidden};
  LB_RETURN_IF_ERROR(expect(kH0, state));
  if (cfg.cell == Cell::kLstm) {
    LB_RETURN_IF_ERROR(expect(kC0, state));
    LB_RETURN_IF_ERROR(expect(kP, {cfg.dirs, 3 * hidden}));
  }
  c.Set(0, DType::kF32,
        cfg.layout == 0 ? Shape{seq, cfg.dirs, batch, hidden}
                        : Shape{batch, seq, cfg.dirs, hidden});
  for (int k = 1; k < c.num_outputs(); ++k) c.Set(k, DType::kF32, state);
  return Status::Ok();
}

inline void Clip(float* y, int64_t n, float clip) {
  if (clip <= 0.0f) return;
  for (int64_t i = 0; i < n; ++i) y[i] = std::min(clip, std::max(-clip, y[i]));
}

// One direction over the whole batch. Scratch and outputs prepared by RnnRun.
struct Direction {
  const Config* cfg;
  int d;  // direction index (0 forward or the only one, 1 backward)
  bool backward;
  int64_t seq, batch, input, hidden;
  const float* x;       // X, rows of `input`
  const float* w;       // [gates*hidden, input]
  const float* r;       // [gates*hidden, hidden]
  const float* b;       // [2*gates*hidden] or null
  const float* p;       // LSTM peepholes [3*hidden] or null
  const int64_t* lens;  // per batch entry
  float *h, *cell;      // [batch, hidden]: the state, initialized
  float *xw, *hr, *rh;  // scratch: [seq*batch, G*H], [batch, G*H], [batch, H]
  float* y;             // Y or null
};

// Row of X (and of xw) for time t and batch entry b.
inline int64_t XRow(const Config& cfg, int64_t seq, int64_t batch, int64_t t,
                    int64_t b) {
  return cfg.layout == 0 ? t * batch + b : b * seq + t;
}

inline float* YRow(const Direction& s, int64_t t, int64_t b) {
  const int dirs = s.cfg->dirs;
  const int64_t row = s.cfg->layout == 0 ? (t * dirs + s.d) * s.batch + b
                                         : (b * s.seq + t) * dirs + s.d;
  return s.y + row * s.hidden;
}

void RunDirection(const Direction& s, ThreadPool& pool) {
  const Config& cfg = *s.cfg;
  const int64_t H = s.hidden, G = cfg.gates * H;
  const Act* act = cfg.act + s.d * cfg.acts;
  // xw = X W^T + Wb (+ Rb where it adds outside the reset gate).
  if (s.input > 0) {
    SgemmParallel(pool, false, true, s.seq * s.batch, G, s.input, 1.0f, s.x,
                  s.input, s.w, s.input, 0.0f, s.xw, G);
  } else {
    std::memset(s.xw, 0, static_cast<size_t>(s.seq * s.batch * G) * 4);
  }
  if (s.b != nullptr) {
    const bool lbr = cfg.cell == Cell::kGru && cfg.linear_before_reset;
    for (int64_t row = 0; row < s.seq * s.batch; ++row) {
      float* o = s.xw + row * G;
      for (int64_t j = 0; j < G; ++j) {
        // GRU with linear_before_reset: Rbh is added under the reset gate.
        const bool rb = !(lbr && j >= 2 * H);
        o[j] += s.b[j] + (rb ? s.b[G + j] : 0.0f);
      }
    }
  }
  int64_t steps = 0;
  for (int64_t b = 0; b < s.batch; ++b) steps = std::max(steps, s.lens[b]);
  const bool lbr = cfg.linear_before_reset;
  for (int64_t step = 0; step < steps; ++step) {
    if (cfg.cell == Cell::kLstm || lbr) {
      Sgemm(false, true, s.batch, G, H, 1.0f, s.h, H, s.r, H, 0.0f, s.hr, G);
    } else {  // GRU: z and r first; h after the reset gate
      Sgemm(false, true, s.batch, 2 * H, H, 1.0f, s.h, H, s.r, H, 0.0f, s.hr,
            G);
    }
    for (int64_t b = 0; b < s.batch; ++b) {
      if (step >= s.lens[b]) continue;
      const int64_t t = s.backward ? s.lens[b] - 1 - step : step;
      const float* xg = s.xw + XRow(cfg, s.seq, s.batch, t, b) * G;
      float* g = s.hr + b * G;
      float* hb = s.h + b * H;
      // The GRU's h gate takes its input part after the reset gate.
      const int64_t add = cfg.cell == Cell::kLstm ? G : 2 * H;
      for (int64_t j = 0; j < add; ++j) g[j] += xg[j];
      if (cfg.cell == Cell::kLstm) {
        float* gi = g;
        float* go = g + H;
        float* gf = g + 2 * H;
        float* gc = g + 3 * H;
        float* cb = s.cell + b * H;
        if (s.p != nullptr) {
          for (int64_t j = 0; j < H; ++j) {
            gi[j] += s.p[j] * cb[j];
            gf[j] += s.p[2 * H + j] * cb[j];
          }
        }
        Clip(gi, H, cfg.clip);
        Apply(act[0], gi, H);
        if (cfg.input_forget) {
          for (int64_t j = 0; j < H; ++j) gf[j] = 1.0f - gi[j];
        } else {
          Clip(gf, H, cfg.clip);
          Apply(act[0], gf, H);
        }
        Clip(gc, H, cfg.clip);
        Apply(act[1], gc, H);
        for (int64_t j = 0; j < H; ++j) cb[j] = gf[j] * cb[j] + gi[j] * gc[j];
        if (s.p != nullptr) {
          for (int64_t j = 0; j < H; ++j) go[j] += s.p[H + j] * cb[j];
        }
        Clip(go, H, cfg.clip);
        Apply(act[0], go, H);
        float* hc = gc;  // h(C), over the cell gate no longer needed
        std::memcpy(hc, cb, static_cast<size_t>(H) * sizeof(float));
        Apply(act[2], hc, H);
        for (int64_t j = 0; j < H; ++j) hb[j] = go[j] * hc[j];
      } else {
        float* gz = g;
        float* gr = g + H;
        float* gh = g + 2 * H;
        Clip(gz, 2 * H, cfg.clip);
        Apply(act[0], gz, 2 * H);  // z and r
        if (lbr) {                 // h = g(xh + Wbh + r (H Rh^T + Rbh))
          const float* rbh = s.b != nullptr ? s.b + G + 2 * H : nullptr;
          for (int64_t j = 0; j < H; ++j) {
            gh[j] = xg[2 * H + j] +
                    gr[j] * (gh[j] + (rbh != nullptr ? rbh[j] : 0.0f));
          }
        } else {  // h = g(xh + Wbh + Rbh + (r H) Rh^T): the product below
          float* rh = s.rh + b * H;
          for (int64_t j = 0; j < H; ++j) rh[j] = gr[j] * hb[j];
        }
      }
    }
    if (cfg.cell == Cell::kGru) {
      if (!lbr) {  // (r H) Rh^T for every row at once, into the h gates
        Sgemm(false, true, s.batch, H, H, 1.0f, s.rh, H, s.r + 2 * H * H, H,
              0.0f, s.hr + 2 * H, G);
      }
      for (int64_t b = 0; b < s.batch; ++b) {
        if (step >= s.lens[b]) continue;
        const int64_t t = s.backward ? s.lens[b] - 1 - step : step;
        const float* xg = s.xw + XRow(cfg, s.seq, s.batch, t, b) * G;
        float* g = s.hr + b * G;
        float* gh = g + 2 * H;
        if (!lbr) {
          for (int64_t j = 0; j < H; ++j) gh[j] += xg[2 * H + j];
        }
        Clip(gh, H, cfg.clip);
        Apply(act[1], gh, H);
        float* hb = s.h + b * H;
        for (int64_t j = 0; j < H; ++j) {
          hb[j] = (1.0f - g[j]) * gh[j] + g[j] * hb[j];
        }
      }
    }
    if (s.y != nullptr) {
      for (int64_t b = 0; b < s.batch; ++b) {
        if (step >= s.lens[b]) continue;
        const int64_t t = s.backward ? s.lens[b] - 1 - step : step;
        std::memcpy(YRow(s, t, b), s.h + b * H,
                    static_cast<size_t>(H) * sizeof(float));
      }
    }
  }
}

// Row (d, b) of a state tensor [dirs, batch, H] (layout 0) or [batch, dirs,
// H] (layout 1).
inline int64_t StateRow(const Config& cfg, int d, int64_t b, int64_t batch) {
  return cfg.layout == 0 ? d * batch + b : b * cfg.dirs + d;
}

Status RnnRun(KernelContext& c) {
  Config cfg;
  LB_RETURN_IF_ERROR(ParseConfig(c.graph(), c.node(), &cfg));
  const Tensor& x = c.in(kX);
  const int64_t seq = cfg.layout == 0 ? x.dim(0) : x.dim(1);
  const int64_t batch = cfg.layout == 0 ? x.dim(1) : x.dim(0);
  const int64_t input = x.dim(2);
  const int64_t H = c.in(kR).dim(2), G = cfg.gates * H;
  const bool lstm = cfg.cell == Cell::kLstm;
  auto present = [&](int k) { return c.has(k) && c.in(k).numel() > 0; };
  Workspace::Scope scope(c.ws());
  int64_t* lens = c.ws().Take<int64_t>(std::max<int64_t>(1, batch));
  for (int64_t b = 0; b < batch; ++b) {
    lens[b] = present(kLens) ? c.in(kLens).GetInt(b) : seq;
    if (lens[b] < 0 || lens[b] > seq) {
      return c.Fail("sequence_lens[" + std::to_string(b) +
                    "] = " + std::to_string(lens[b]) + " is outside [0, " +
                    std::to_string(seq) + "]");
    }
  }
  float* y = c.has_out(0) ? c.out(0).data<float>() : nullptr;
  if (y != nullptr) {  // positions past a sequence's length stay zero
    std::memset(y, 0, static_cast<size_t>(c.out(0).nbytes()));
  }
  float* xw = c.ws().Take<float>(std::max<int64_t>(1, seq * batch * G));
  float* hr = c.ws().Take<float>(std::max<int64_t>(1, batch * G));
  float* rh = c.ws().TakeZeroed<float>(std::max<int64_t>(1, batch * H));
  float* h = c.ws().Take<float>(std::max<int64_t>(1, batch * H));
  float* cell = c.ws().Take<float>(std::max<int64_t>(1, batch * H));
  for (int d = 0; d < cfg.dirs; ++d) {
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t row = StateRow(cfg, d, b, batch) * H;
      const size_t bytes = static_cast<size_t>(H) * sizeof(float);
      if (present(kH0)) {
        std::memcpy(h + b * H, c.in(kH0).data<float>() + row, bytes);
      } else {
        std::memset(h + b * H, 0, bytes);
      }
      if (lstm && present(kC0)) {
        std::memcpy(cell + b * H, c.in(kC0).data<float>() + row, bytes);
      } else {
        std::memset(cell + b * H, 0, bytes);
      }
    }
    Direction s;
    s.cfg = &cfg;
    s.d = d;
    s.backward = d == 1 || cfg.reverse;
    s.seq = seq;
    s.batch = batch;
    s.input = input;
    s.hidden = H;
    s.x = x.data<float>();
    s.w = c.in(kW).data<float>() + d * G * input;
    s.r = c.in(kR).data<float>() + d * G * H;
    s.b = present(kB) ? c.in(kB).data<float>() + d * 2 * G : nullptr;
    s.p = lstm && present(kP) ? c.in(kP).data<float>() + d * 3 * H : nullptr;
    s.lens = lens;
    s.h = h;
    s.cell = cell;
    s.xw = xw;
    s.hr = hr;
    s.rh = rh;
    s.y = y;
    if (seq > 0 && batch > 0 && H > 0) RunDirection(s, c.pool());
    // Y_h and Y_c: the last state of each sequence; zeros for an empty one
    // (as ONNX Runtime gives, not the initial state).
    for (int k = 1; k <= (lstm ? 2 : 1); ++k) {
      if (!c.has_out(k)) continue;
      const float* src = k == 1 ? h : cell;
      float* dst = c.out(k).data<float>();
      for (int64_t b = 0; b < batch; ++b) {
        float* row = dst + StateRow(cfg, d, b, batch) * H;
        const size_t bytes = static_cast<size_t>(H) * sizeof(float);
        if (lens[b] == 0) {
          std::memset(row, 0, bytes);
        } else {
          std::memcpy(row, src + b * H, bytes);
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace

void AddRnnOps(std::vector<OpSchema>& t) {
  OpSchema lstm;
  lstm.name = "LSTM";
  lstm.min_inputs = 3;
  lstm.max_inputs = 8;
  lstm.min_outputs = 0;
  lstm.max_outputs = 3;
  lstm.check = RnnCheck;
  lstm.infer = RnnInfer;
  lstm.run = RnnRun;
  t.push_back(lstm);
  OpSchema gru = lstm;
  gru.name = "GRU";
  gru.max_inputs = 6;
  gru.max_outputs = 2;
  t.push_back(gru);
}

}  // namespace lowbit::graph
