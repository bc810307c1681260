#include "io/calib_stats_file.h"

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

namespace lowbit {
namespace {

constexpr const char* kKey = "lowbit.stats";
constexpr int64_t kMaxCols = int64_t{1} << 16;

std::vector<float> ToFloat(const std::vector<double>& v, double div) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    out[i] = static_cast<float>(v[i] / div);
  }
  return out;
}

}  // namespace

Status WriteCalibStats(const std::string& path,
                       const std::map<std::string, graph::LayerStats>& layers,
                       const CalibInfo& info) {
  nlohmann::json meta = {{"version", 1},
                         {"model", info.model},
                         {"samples", info.samples},
                         {"mode", info.mode},
                         {"layers", nlohmann::json::object()}};
  std::vector<TensorDesc> descs;
  std::vector<std::vector<float>> data;
  for (const auto& [name, s] : layers) {
    if (s.rows <= 0) continue;
    meta["layers"][name] = {{"op", s.op},     {"node", s.node},
                            {"rows", s.rows}, {"groups", s.groups},
                            {"cols", s.cols}, {"outputs", s.outputs}};
    const double rows = static_cast<double>(s.rows);
    const double outs = static_cast<double>(std::max<int64_t>(1, s.out_count));
    descs.push_back({name + ".xtx", DType::kF32, {s.groups, s.cols, s.cols}});
    data.push_back(ToFloat(s.h, rows));
    descs.push_back({name + ".x_abs_mean", DType::kF32, {s.groups, s.cols}});
    data.push_back(ToFloat(s.sum_abs, rows));
    descs.push_back({name + ".x_sq_mean", DType::kF32, {s.groups, s.cols}});
    data.push_back(ToFloat(s.sum_sq, rows));
    descs.push_back({name + ".y_mean", DType::kF32, {s.outputs}});
    data.push_back(ToFloat(s.out_sum, outs));
    descs.push_back({name + ".y_sq_mean", DType::kF32, {s.outputs}});
    data.push_back(ToFloat(s.out_sq, outs));
  }
  LB_ASSIGN_OR_RETURN(
      auto w, SafetensorsWriter::Create(path, descs, {{kKey, meta.dump()}}));
  for (size_t i = 0; i < descs.size(); ++i) {
    LB_RETURN_IF_ERROR(
        w->Write(descs[i].name, data[i].data(), data[i].size() * 4));
  }
  return w->Commit();
}

Result<std::unique_ptr<CalibStatsFile>> CalibStatsFile::Open(
    const std::string& path) {
  LB_ASSIGN_OR_RETURN(auto st, SafetensorsFile::Open(path));
  auto bad = [&](const std::string& m) { return BadInput(path + ": " + m); };
  auto it = st->metadata().find(kKey);
  if (it == st->metadata().end()) {
    return bad("not a lowbit statistics file (no \"lowbit.stats\" metadata)");
  }
  nlohmann::json meta = nlohmann::json::parse(it->second, nullptr, false);
  if (!meta.is_object() || !meta.contains("version") || meta["version"] != 1 ||
      !meta.contains("layers") || !meta["layers"].is_object()) {
    return bad("\"lowbit.stats\" is not a version 1 statistics record");
  }
  auto f = std::make_unique<CalibStatsFile>();
  f->path_ = path;
  auto str = [&](const nlohmann::json& j, const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>()
                                             : std::string();
  };
  f->info_.model = str(meta, "model");
  f->info_.mode = str(meta, "mode");
  if (meta.contains("samples") && meta["samples"].is_number_integer()) {
    f->info_.samples = meta["samples"].get<int64_t>();
  }
  for (const auto& item : meta["layers"].items()) {
    // Named copies: lambdas may not capture structured bindings (clang 14).
    const std::string name = item.key();
    const nlohmann::json& j = item.value();
    auto num = [&](const char* k) -> int64_t {
      return j.is_object() && j.contains(k) && j[k].is_number_integer()
                 ? j[k].get<int64_t>()
                 : -1;
    };
    CalibLayer l;
    l.weight = name;
    l.op = j.is_object() ? str(j, "op") : "";
    l.node = j.is_object() ? str(j, "node") : "";
    l.groups = num("groups");
    l.cols = num("cols");
    l.rows = num("rows");
    l.outputs = num("outputs");
    if (l.groups < 1 || l.cols < 1 || l.rows < 1 || l.outputs < 1 ||
        l.cols > kMaxCols || l.groups > kMaxCols || l.outputs > (1 << 30)) {
      return bad("layer '" + name +
                 "': groups, cols, rows and outputs must be positive "
                 "integers (cols and groups at most 65536)");
    }
    auto read = [&](const std::string& suffix, const Shape& want,
                    std::vector<float>* out) -> Status {
      const SafetensorsEntry* e = st->Find(name + suffix);
      if (e == nullptr) {
        return bad("layer '" + name + "': no tensor '" + name + suffix + "'");
      }
      if (e->dtype != DType::kF32 || e->shape != want) {
        return bad("tensor '" + e->name + "' has shape " +
                   ShapeString(e->shape) + ", expected f32 " +
                   ShapeString(want));
      }
      out->resize(static_cast<size_t>(NumElements(want)));
      std::memcpy(out->data(), e->data, out->size() * 4);
      for (float v : *out) {
        if (!std::isfinite(v)) {
          return bad("tensor '" + e->name + "' holds NaN or infinity");
        }
      }
      return Status::Ok();
    };
    LB_RETURN_IF_ERROR(read(".xtx", {l.groups, l.cols, l.cols}, &l.xtx));
    LB_RETURN_IF_ERROR(read(".x_abs_mean", {l.groups, l.cols}, &l.x_abs_mean));
    LB_RETURN_IF_ERROR(read(".x_sq_mean", {l.groups, l.cols}, &l.x_sq_mean));
    LB_RETURN_IF_ERROR(read(".y_mean", {l.outputs}, &l.y_mean));
    LB_RETURN_IF_ERROR(read(".y_sq_mean", {l.outputs}, &l.y_sq_mean));
    const int64_t k = l.cols;
    for (int64_t g = 0; g < l.groups; ++g) {
      const float* h = l.xtx.data() + g * k * k;
      for (int64_t i = 0; i < k; ++i) {
        if (h[i * k + i] < 0.0f) {
          return bad("tensor '" + name + ".xtx' has a negative diagonal");
        }
        for (int64_t j = i + 1; j < k; ++j) {
          if (h[i * k + j] != h[j * k + i]) {
            return bad("tensor '" + name + ".xtx' is not symmetric");
          }
        }
      }
    }
    f->layers_[name] = std::move(l);
  }
  return f;
}

std::unique_ptr<CalibStatsFile> CalibStatsFile::FromLayers(
    const std::map<std::string, graph::LayerStats>& layers,
    const CalibInfo& info, const std::string& origin) {
  auto f = std::make_unique<CalibStatsFile>();
  f->path_ = origin;
  f->info_ = info;
  for (const auto& [name, s] : layers) {
    if (s.rows <= 0) continue;
    CalibLayer l;
    l.weight = name;
    l.op = s.op;
    l.node = s.node;
    l.groups = s.groups;
    l.cols = s.cols;
    l.rows = s.rows;
    l.outputs = s.outputs;
    const double rows = static_cast<double>(s.rows);
    const double outs = static_cast<double>(std::max<int64_t>(1, s.out_count));
    l.xtx = ToFloat(s.h, rows);
    l.x_abs_mean = ToFloat(s.sum_abs, rows);
    l.x_sq_mean = ToFloat(s.sum_sq, rows);
    l.y_mean = ToFloat(s.out_sum, outs);
    l.y_sq_mean = ToFloat(s.out_sq, outs);
    f->layers_[name] = std::move(l);
  }
  return f;
}

const CalibLayer* CalibStatsFile::Find(const std::string& name) const {
  auto it = layers_.find(name);
  return it == layers_.end() ? nullptr : &it->second;
}

}  // namespace lowbit
