// LSTM and GRU against a double-precision reference written out gate by gate
// (a loop over batch entries and time, ONNX's equations as the spec states
// them), on random small shapes: every direction, with and without bias,
// initial states, mixed sequence lengths, peepholes, clip, input_forget,
// layout 1, linear_before_reset 0 and 1, other activations; and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "tests/support/graph_test_util.h"

namespace lowbit::graph {
namespace {

using testing::AFloat;
using testing::AFloats;
using testing::AInt;
using testing::AString;
using testing::OpCase;
using testing::RunOp;

struct Case {
  bool gru = false;
  int64_t seq = 5, batch = 3, input = 4, hidden = 3;
  std::string direction = "forward";
  bool bias = true, h0 = false, c0 = false, peep = false, lens = false;
  float clip = 0.0f;
  int layout = 0;
  bool lbr = false, input_forget = false;
  bool empty = false;  // with lens: the last batch entry has length 0
  std::vector<std::string> acts;  // empty: the defaults
  std::vector<float> alpha, beta;
  uint32_t seed = 1;
};

Tensor Random(Shape s, std::mt19937& rng, float scale = 0.6f) {
  Tensor t = Tensor::Zeros(DType::kF32, std::move(s));
  std::uniform_real_distribution<float> u(-scale, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

double Act(const std::string& name, double x, double alpha, double beta) {
  if (name == "Sigmoid") return 1.0 / (1.0 + std::exp(-x));
  if (name == "Tanh") return std::tanh(x);
  if (name == "Relu") return std::max(0.0, x);
  if (name == "LeakyRelu") return x >= 0 ? x : alpha * x;
  if (name == "HardSigmoid")
    return std::min(1.0, std::max(0.0, alpha * x + beta));
  if (name == "Affine") return alpha * x + beta;
  ADD_FAILURE() << name;
  return 0;
}

struct Outputs {
  std::vector<double> y, yh, yc;
};

// ONNX's equations, one batch entry and one time step at a time.
Outputs Reference(const Case& k, const Tensor& x, const Tensor& w,
                  const Tensor& r, const Tensor* b,
                  const std::vector<int>& lens, const Tensor* h0,
                  const Tensor* c0, const Tensor* p) {
  const int dirs = k.direction == "bidirectional" ? 2 : 1;
  const int64_t S = k.seq, B = k.batch, I = k.input, H = k.hidden;
  const int gates = k.gru ? 3 : 4, per = k.gru ? 2 : 3;
  std::vector<std::string> acts = k.acts;
  if (acts.empty()) {
    acts = k.gru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                 : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
  }
  if (static_cast<int>(acts.size()) == per && dirs == 2) {
    const std::vector<std::string> one = acts;
    acts.insert(acts.end(), one.begin(), one.end());
  }
  auto xat = [&](int64_t t, int64_t bb, int64_t i) -> double {
    return k.layout == 0 ? x.data<float>()[(t * B + bb) * I + i]
                         : x.data<float>()[(bb * S + t) * I + i];
  };
  auto state = [&](const Tensor* s, int d, int64_t bb, int64_t j) -> double {
    if (s == nullptr) return 0.0;
    return k.layout == 0 ? s->data<float>()[(d * B + bb) * H + j]
                         : s->data<float>()[(bb * dirs + d) * H + j];
  };
  auto clip = [&](double v) {
    return k.clip > 0 ? std::min<double>(k.clip, std::max<double>(-k.clip, v))
                      : v;
  };
  Outputs o;
  o.y.assign(S * dirs * B * H, 0.0);
  o.yh.assign(dirs * B * H, 0.0);
  o.yc.assign(dirs * B * H, 0.0);
  for (int d = 0; d < dirs; ++d) {
    const bool backward = d == 1 || k.direction == "reverse";
    auto f = [&](int q, double v) {
      // alpha/beta: this test gives them only to single-direction cases
      const double al = k.alpha.empty() ? 0.01 : k.alpha[0];
      const double be = k.beta.empty() ? 0.5 : k.beta[0];
      return Act(acts[d * per + q], v, al, be);
    };
    const float* W = w.data<float>() + d * gates * H * I;
    const float* R = r.data<float>() + d * gates * H * H;
    const float* Bv = b ? b->data<float>() + d * 2 * gates * H : nullptr;
    const float* P = p ? p->data<float>() + d * 3 * H : nullptr;
    // pre(q, j) = W_q x + R_q hin + Wb_q + Rb_q (hin given)
    for (int64_t bb = 0; bb < B; ++bb) {
      std::vector<double> h(H), c(H), nh(H), nc(H);
      for (int64_t j = 0; j < H; ++j) {
        h[j] = state(h0, d, bb, j);
        c[j] = state(c0, d, bb, j);
      }
      const int len = lens.empty() ? static_cast<int>(S) : lens[bb];
      for (int step = 0; step < len; ++step) {
        const int64_t t = backward ? len - 1 - step : step;
        auto wx = [&](int q, int64_t j) {
          double s = Bv ? Bv[q * H + j] : 0.0;
          for (int64_t i = 0; i < I; ++i)
            s += W[(q * H + j) * I + i] * xat(t, bb, i);
          return s;
        };
        auto rh = [&](int q, int64_t j, const std::vector<double>& hin) {
          double s = Bv ? Bv[gates * H + q * H + j] : 0.0;
          for (int64_t i = 0; i < H; ++i) s += R[(q * H + j) * H + i] * hin[i];
          return s;
        };
        if (!k.gru) {  // gates i o f c
          for (int64_t j = 0; j < H; ++j) {
            const double pi = P ? P[j] : 0.0, po = P ? P[H + j] : 0.0,
                         pf = P ? P[2 * H + j] : 0.0;
            const double it = f(0, clip(wx(0, j) + rh(0, j, h) + pi * c[j]));
            const double ft =
                k.input_forget ? 1.0 - it
                               : f(0, clip(wx(2, j) + rh(2, j, h) + pf * c[j]));
            const double ct = f(1, clip(wx(3, j) + rh(3, j, h)));
            nc[j] = ft * c[j] + it * ct;
            const double ot = f(0, clip(wx(1, j) + rh(1, j, h) + po * nc[j]));
            nh[j] = ot * f(2, nc[j]);
          }
        } else {  // gates z r h
          std::vector<double> rt(H), rhv(H);
          for (int64_t j = 0; j < H; ++j) {
            rt[j] = f(0, clip(wx(1, j) + rh(1, j, h)));
            rhv[j] = rt[j] * h[j];
          }
          for (int64_t j = 0; j < H; ++j) {
            const double zt = f(0, clip(wx(0, j) + rh(0, j, h)));
            double pre;
            if (k.lbr) {
              pre = wx(2, j) + rt[j] * rh(2, j, h);
            } else {
              pre = wx(2, j) + rh(2, j, rhv);
            }
            const double ht = f(1, clip(pre));
            nh[j] = (1.0 - zt) * ht + zt * h[j];
          }
        }
        h = nh;
        if (!k.gru) c = nc;
        for (int64_t j = 0; j < H; ++j) {
          const int64_t at = k.layout == 0 ? ((t * dirs + d) * B + bb) * H + j
                                           : ((bb * S + t) * dirs + d) * H + j;
          o.y[at] = h[j];
        }
      }
      for (int64_t j = 0; j < H; ++j) {  // an empty sequence gives zeros
        const int64_t at =
            k.layout == 0 ? (d * B + bb) * H + j : (bb * dirs + d) * H + j;
        o.yh[at] = len > 0 ? h[j] : 0.0;
        o.yc[at] = len > 0 ? c[j] : 0.0;
      }
    }
  }
  return o;
}

double MaxDiff(const Tensor& t, const std::vector<double>& ref) {
  EXPECT_EQ(t.numel(), static_cast<int64_t>(ref.size()));
  double m = 0;
  for (int64_t i = 0; i < t.numel() && i < static_cast<int64_t>(ref.size());
       ++i) {
    m = std::max(m, std::fabs(t.GetDouble(i) - ref[i]));
  }
  return m;
}

// Runs the case through the engine and the reference; the largest absolute
// difference over Y, Y_h (and Y_c).
double Check(const Case& k) {
  std::mt19937 rng(k.seed);
  const int dirs = k.direction == "bidirectional" ? 2 : 1;
  const int gates = k.gru ? 3 : 4;
  const int64_t S = k.seq, B = k.batch, H = k.hidden;
  const Tensor x = Random(
      k.layout == 0 ? Shape{S, B, k.input} : Shape{B, S, k.input}, rng, 1.0f);
  const Tensor w = Random({dirs, gates * H, k.input}, rng);
  const Tensor r = Random({dirs, gates * H, H}, rng);
  const Tensor b = Random({dirs, 2 * gates * H}, rng);
  const Shape st = k.layout == 0 ? Shape{dirs, B, H} : Shape{B, dirs, H};
  const Tensor h0 = Random(st, rng), c0 = Random(st, rng);
  const Tensor p = Random({dirs, 3 * H}, rng);
  std::vector<int> lens;
  Tensor lt;
  if (k.lens) {
    lt = Tensor::Zeros(DType::kI32, {B});
    for (int64_t i = 0; i < B; ++i) {
      lens.push_back(static_cast<int>(i == 0 ? S : 1 + rng() % S));
      if (k.empty && i == B - 1) lens.back() = 0;
      lt.data<int32_t>()[i] = lens.back();
    }
  }
  OpCase c;
  c.op = k.gru ? "GRU" : "LSTM";
  c.opset = k.layout == 1 ? 14 : 7;
  c.inputs = {x,
              w,
              r,
              k.bias ? b : Tensor(),
              k.lens ? lt : Tensor(),
              k.h0 ? h0 : Tensor()};
  if (!k.gru) {
    c.inputs.push_back(k.c0 ? c0 : Tensor());
    c.inputs.push_back(k.peep ? p : Tensor());
  }
  c.num_outputs = k.gru ? 2 : 3;
  c.attrs["hidden_size"] = AInt(H);
  c.attrs["direction"] = AString(k.direction);
  if (k.clip > 0) c.attrs["clip"] = AFloat(k.clip);
  if (k.layout) c.attrs["layout"] = AInt(1);
  if (k.lbr) c.attrs["linear_before_reset"] = AInt(1);
  if (k.input_forget) c.attrs["input_forget"] = AInt(1);
  if (!k.acts.empty()) {
    Attribute a;
    a.kind = Attribute::Kind::kStrings;
    a.strings = k.acts;
    c.attrs["activations"] = a;
  }
  if (!k.alpha.empty()) c.attrs["activation_alpha"] = AFloats(k.alpha);
  if (!k.beta.empty()) c.attrs["activation_beta"] = AFloats(k.beta);
  auto got = RunOp(c);
  EXPECT_TRUE(got.ok()) << got.status().message();
  if (!got.ok()) return 1e9;
  const Outputs ref = Reference(
      k, x, w, r, k.bias ? &b : nullptr, lens, k.h0 ? &h0 : nullptr,
      k.c0 && !k.gru ? &c0 : nullptr, k.peep && !k.gru ? &p : nullptr);
  double m = std::max(MaxDiff((*got)[0], ref.y), MaxDiff((*got)[1], ref.yh));
  if (!k.gru) m = std::max(m, MaxDiff((*got)[2], ref.yc));
  return m;
}

// Every combination of the features on small random shapes.
TEST(RnnOps, MatchTheReferenceInEveryConfiguration) {
  double worst = 0;
  int cases = 0;
  uint32_t seed = 1;
  for (bool gru : {false, true}) {
    for (const char* dir : {"forward", "reverse", "bidirectional"}) {
      for (int variant = 0; variant < 8; ++variant) {
        Case k;
        k.gru = gru;
        k.direction = dir;
        k.seed = seed++;
        k.bias = variant % 2 == 0;
        k.h0 = variant & 2;
        k.c0 = variant & 2;
        k.lens = variant & 4;
        k.peep = variant == 3 || variant == 6;
        k.clip = variant == 5 ? 0.4f : 0.0f;
        k.layout = variant >= 6 ? 1 : 0;
        k.lbr = variant % 3 == 1;
        k.input_forget = variant == 7;
        k.seq = 2 + variant % 4;
        k.batch = 1 + variant % 3;
        k.input = 3 + variant % 2;
        k.hidden = 2 + variant % 3;
        const double d = Check(k);
        EXPECT_LT(d, 1e-5) << (gru ? "GRU " : "LSTM ") << dir << " variant "
                           << variant;
        worst = std::max(worst, d);
        ++cases;
      }
    }
  }
  std::printf("[ rnn ] %d cases, largest |engine - reference| %.3g\n", cases,
              worst);
}

TEST(RnnOps, LinearBeforeResetBothWaysWithLengths) {
  for (bool lbr : {false, true}) {
    Case k;
    k.gru = true;
    k.lbr = lbr;
    k.direction = "bidirectional";
    k.lens = k.h0 = true;
    k.seq = 6;
    k.batch = 4;
    k.hidden = 5;
    k.seed = 77;
    EXPECT_LT(Check(k), 1e-5) << "linear_before_reset " << lbr;
  }
}

TEST(RnnOps, AnEmptySequenceGivesZeros) {
  for (bool gru : {false, true}) {
    Case k;
    k.gru = gru;
    k.direction = "bidirectional";
    k.lens = k.empty = k.h0 = k.c0 = true;
    k.batch = 3;
    EXPECT_LT(Check(k), 1e-5) << (gru ? "GRU" : "LSTM");
  }
}

TEST(RnnOps, OtherActivationsAndClip) {
  Case k;
  k.acts = {"HardSigmoid", "Relu", "LeakyRelu"};
  k.alpha = {0.3f, 0.3f};  // consumed by HardSigmoid, then LeakyRelu
  k.beta = {0.5f};
  k.clip = 0.7f;
  k.h0 = k.c0 = k.peep = true;
  // The reference gives each function the first alpha / beta, which is what
  // these lists say (0.3 for both, 0.5 for HardSigmoid).
  EXPECT_LT(Check(k), 1e-5);
  Case g;
  g.gru = true;
  g.acts = {"Sigmoid", "Relu"};
  g.clip = 0.5f;
  EXPECT_LT(Check(g), 1e-5);
}

TEST(RnnOps, LargerShapesStillMatch) {
  Case k;
  k.seq = 9;
  k.batch = 5;
  k.input = 17;
  k.hidden = 16;
  k.direction = "bidirectional";
  k.lens = k.h0 = k.c0 = k.peep = true;
  EXPECT_LT(Check(k), 1e-5);
  k.gru = true;
  k.layout = 1;
  EXPECT_LT(Check(k), 1e-5);
}

TEST(RnnOps, BadAttributesAndShapesAreRefusedByName) {
  std::mt19937 rng(3);
  OpCase c;
  c.op = "LSTM";
  c.inputs = {Random({2, 1, 3}, rng), Random({1, 8, 3}, rng),
              Random({1, 8, 2}, rng)};
  c.num_outputs = 2;
  Attribute a;
  a.kind = Attribute::Kind::kStrings;
  a.strings = {"Sigmoid", "Swish", "Tanh"};
  c.attrs["activations"] = a;
  auto r = RunOp(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("node n0 (LSTM)"), std::string::npos);
  EXPECT_NE(r.status().message().find("Swish"), std::string::npos);
  c.attrs.erase("activations");
  c.attrs["direction"] = AString("sideways");
  r = RunOp(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sideways"), std::string::npos);
  c.attrs.erase("direction");
  c.attrs["hidden_size"] = AInt(3);  // R says 2
  r = RunOp(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("hidden_size"), std::string::npos);
  c.attrs.erase("hidden_size");
  c.inputs[1] = Random({1, 8, 4}, rng);  // W's input size is not X's
  r = RunOp(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("W has shape"), std::string::npos);
  c.inputs[1] = Random({1, 8, 3}, rng);
  Tensor lens = Tensor::Zeros(DType::kI32, {1});
  lens.data<int32_t>()[0] = 3;  // longer than the sequence
  c.inputs.push_back(Tensor());
  c.inputs.push_back(lens);
  r = RunOp(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sequence_lens[0] = 3"),
            std::string::npos);
}

}  // namespace
}  // namespace lowbit::graph
