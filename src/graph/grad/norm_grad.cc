// Gradients of the normalizations:
//   - BatchNormalization with its running statistics frozen (inference form):
//     y = a_c x + b_c, a_c = scale_c / sqrt(var_c + eps); dx = a_c dy,
//     dscale_c = sum dy (x - mean_c) / sqrt(var_c + eps), dB_c = sum dy; or
//     in training mode (training_mode = 1: the batch's statistics, which
//     depend on x): dx = scale r (dy - mean(dy) - xh mean(dy xh)) per
//     channel. Mean and var take no gradient, nor do the running-statistic
//     outputs.
//   - LayerNormalization over the axes from `axis` on: with r = 1 / sqrt(var
//     + eps), xh = (x - mean) r and g = dy scale, dx = r (g - mean(g) - xh
//     mean(g xh)) per row; dscale = sum over rows of dy xh, dB = sum dy, each
//     summed down to the parameter's (broadcast) shape.
#include <cmath>
#include <vector>

#include "graph/grad/grad.h"
#include "graph/ops/broadcast.h"

namespace lowbit::graph {
namespace {

int64_t Product(const Shape& s, int from, int to) {
  int64_t p = 1;
  for (int d = from; d < to; ++d) p *= s[d];
  return p;
}

// Frozen statistics: y = a_c x + b_c.
void BatchNormFrozenGrad(const Tensor& x, const float* scale, const float* mean,
                         const float* var, const float* g, float eps, float* dx,
                         std::vector<double>* ds, std::vector<double>* db) {
  const int64_t channels = x.dim(1);
  const int64_t inner = Product(x.shape(), 2, x.rank());
  const float* px = x.data<float>();
  for (int64_t n = 0; n < x.dim(0); ++n) {
    for (int64_t ch = 0; ch < channels; ++ch) {
      const float inv = 1.0f / std::sqrt(var[ch] + eps);
      const int64_t at = (n * channels + ch) * inner;
      double s = 0.0, b = 0.0;
      for (int64_t i = 0; i < inner; ++i) {
        const float gi = g[at + i];
        if (dx != nullptr) dx[at + i] += gi * scale[ch] * inv;
        s += static_cast<double>(gi) * (px[at + i] - mean[ch]) * inv;
        b += gi;
      }
      (*ds)[ch] += s;
      (*db)[ch] += b;
    }
  }
}

// Training mode: the batch's statistics over M = N x spatial values per
// channel; with xh = (x - mean) r, r = 1 / sqrt(var + eps):
// dx = scale r (dy - mean(dy) - xh mean(dy xh)), dscale = sum dy xh.
void BatchNormTrainingGrad(const Tensor& x, const float* scale, const float* g,
                           float eps, float* dx, std::vector<double>* ds,
                           std::vector<double>* db) {
  const int64_t channels = x.dim(1), batch = x.dim(0);
  const int64_t inner = Product(x.shape(), 2, x.rank());
  const double count = static_cast<double>(batch * inner);
  if (count == 0) return;
  const float* px = x.data<float>();
  for (int64_t ch = 0; ch < channels; ++ch) {
    double sum = 0.0;
    for (int64_t n = 0; n < batch; ++n) {
      const float* xr = px + (n * channels + ch) * inner;
      for (int64_t i = 0; i < inner; ++i) sum += xr[i];
    }
    const double mean = sum / count;
    double sq = 0.0;
    for (int64_t n = 0; n < batch; ++n) {
      const float* xr = px + (n * channels + ch) * inner;
      for (int64_t i = 0; i < inner; ++i) sq += (xr[i] - mean) * (xr[i] - mean);
    }
    const double r = 1.0 / std::sqrt(sq / count + eps);
    double sg = 0.0, sgx = 0.0;
    for (int64_t n = 0; n < batch; ++n) {
      const int64_t at = (n * channels + ch) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        sg += g[at + i];
        sgx += g[at + i] * (px[at + i] - mean) * r;
      }
    }
    (*ds)[ch] += sgx;
    (*db)[ch] += sg;
    if (dx == nullptr) continue;
    const double mg = sg / count, mgx = sgx / count;
    for (int64_t n = 0; n < batch; ++n) {
      const int64_t at = (n * channels + ch) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        const double xh = (px[at + i] - mean) * r;
        dx[at + i] +=
            static_cast<float>(scale[ch] * r * (g[at + i] - mg - xh * mgx));
      }
    }
  }
}

Status BatchNormGrad(GradContext& c) {
  const Tensor* dy = c.dout(0);
  if (dy == nullptr) return Status::Ok();
  const Tensor& x = c.in(0);
  if (x.rank() < 2) return c.Fail("X needs (N, C, ...)");
  const int64_t channels = x.dim(1);
  const float eps = c.node().Float("epsilon", 1e-5f);
  const float* scale = c.in(1).data<float>();
  const float* g = dy->data<float>();
  std::vector<double> ds(static_cast<size_t>(channels), 0.0),
      db(static_cast<size_t>(channels), 0.0);
  float* dx = c.need(0) ? c.din(0).data<float>() : nullptr;
  if (c.node().Int("training_mode", 0) != 0) {
    for (int k = 1; k < 3; ++k) {
      if (c.dout(k) != nullptr) {
        return c.Fail("no gradient through the running statistics");
      }
    }
    BatchNormTrainingGrad(x, scale, g, eps, dx, &ds, &db);
  } else {
    BatchNormFrozenGrad(x, scale, c.in(3).data<float>(), c.in(4).data<float>(),
                        g, eps, dx, &ds, &db);
  }
  for (int k : {1, 2}) {
    if (!c.need(k)) continue;
    float* d = c.din(k).data<float>();
    const std::vector<double>& src = k == 1 ? ds : db;
    for (int64_t ch = 0; ch < channels; ++ch)
      d[ch] += static_cast<float>(src[ch]);
  }
  return Status::Ok();
}

Status LayerNormGrad(GradContext& c) {
  for (int k = 1; k < 3; ++k) {
    if (c.dout(k) != nullptr) {
      return c.Fail("no gradient through the Mean and InvStdDev outputs");
    }
  }
  const Tensor* dy = c.dout(0);
  if (dy == nullptr) return Status::Ok();
  const Tensor& x = c.in(0);
  const int r = x.rank();
  int64_t axis = c.node().Int("axis", -1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return c.Fail("axis out of range");
  const int64_t rows = Product(x.shape(), 0, static_cast<int>(axis));
  const int64_t d = Product(x.shape(), static_cast<int>(axis), r);
  const Shape norm(x.shape().begin() + axis, x.shape().end());
  const float eps = c.node().Float("epsilon", 1e-5f);
  std::vector<float> scale(static_cast<size_t>(d));
  ExpandTo(c.in(1).data<float>(), c.in(1).shape(), norm, scale.data());
  const float* px = x.data<float>();
  const float* g = dy->data<float>();
  Tensor dscale = Tensor::Zeros(DType::kF32, norm);
  Tensor dbias = Tensor::Zeros(DType::kF32, norm);
  float* dsp = dscale.data<float>();
  float* dbp = dbias.data<float>();
  float* dx = c.need(0) ? c.din(0).data<float>() : nullptr;
  std::vector<float> xh(static_cast<size_t>(d));
  for (int64_t row = 0; row < rows; ++row) {
    const float* xr = px + row * d;
    const float* gr = g + row * d;
    double sum = 0.0;
    for (int64_t i = 0; i < d; ++i) sum += xr[i];
    const double mean = sum / static_cast<double>(d);
    double sq = 0.0;
    for (int64_t i = 0; i < d; ++i) sq += (xr[i] - mean) * (xr[i] - mean);
    const double inv = 1.0 / std::sqrt(sq / static_cast<double>(d) + eps);
    double mg = 0.0, mgx = 0.0;
    for (int64_t i = 0; i < d; ++i) {
      xh[i] = static_cast<float>((xr[i] - mean) * inv);
      const double gi = static_cast<double>(gr[i]) * scale[i];
      mg += gi;
      mgx += gi * xh[i];
      dsp[i] += gr[i] * xh[i];
      dbp[i] += gr[i];
    }
    mg /= static_cast<double>(d);
    mgx /= static_cast<double>(d);
    if (dx == nullptr) continue;
    float* dr = dx + row * d;
    for (int64_t i = 0; i < d; ++i) {
      const double gi = static_cast<double>(gr[i]) * scale[i];
      dr[i] += static_cast<float>(inv * (gi - mg - xh[i] * mgx));
    }
  }
  if (c.need(1)) SumToShape(dscale, c.in(1).shape(), &c.din(1));
  if (c.has(2) && c.need(2)) SumToShape(dbias, c.in(2).shape(), &c.din(2));
  return Status::Ok();
}

}  // namespace

void AddNormGrads(std::vector<GradSchema>& t) {
  t.push_back({"BatchNormalization", BatchNormGrad, {3, 4}});
  t.push_back({"LayerNormalization", LayerNormGrad, {}});
}

}  // namespace lowbit::graph
