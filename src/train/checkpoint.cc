#include "train/checkpoint.h"

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"

namespace lowbit {
namespace {

constexpr char kKey[] = "lowbit.checkpoint";

}  // namespace

Status WriteCheckpoint(const std::string& path, const std::string& fingerprint,
                       const TrainState& s) {
  std::vector<TensorDesc> descs;
  std::vector<std::pair<const void*, size_t>> data;
  for (size_t k = 0; k < s.values.size(); ++k) {
    const graph::Tensor& t = s.values[k];
    if (t.dtype() != DType::kF32) {
      return InvalidArgument("a checkpoint holds f32 tensors only");
    }
    descs.push_back({"value/" + std::to_string(k), DType::kF32, t.shape()});
    data.emplace_back(t.bytes(), static_cast<size_t>(t.nbytes()));
  }
  for (size_t k = 0; k < s.best_values.size(); ++k) {
    const graph::Tensor& t = s.best_values[k];
    descs.push_back({"best/" + std::to_string(k), DType::kF32, t.shape()});
    data.emplace_back(t.bytes(), static_cast<size_t>(t.nbytes()));
  }
  for (const auto* moments : {&s.first, &s.second}) {
    const char* name = moments == &s.first ? "first/" : "second/";
    for (size_t k = 0; k < moments->size(); ++k) {
      const std::vector<float>& m = (*moments)[k];
      descs.push_back({name + std::to_string(k),
                       DType::kF32,
                       {static_cast<int64_t>(m.size())}});
      data.emplace_back(m.data(), m.size() * sizeof(float));
    }
  }
  const nlohmann::json meta = {{"format", 1},
                               {"fingerprint", fingerprint},
                               {"epochs_done", s.epochs_done},
                               {"steps_done", s.steps_done},
                               {"optimizer_steps", s.optimizer_steps},
                               {"values", s.values.size()},
                               {"best_values", s.best_values.size()},
                               {"validation",
                                {{"start", s.validation.start},
                                 {"best", s.validation.best},
                                 {"best_epoch", s.validation.best_epoch}}},
                               {"first", s.first.size()},
                               {"second", s.second.size()},
                               {"epochs", EpochsJson(s.epochs)}};
  LB_ASSIGN_OR_RETURN(
      auto w, SafetensorsWriter::Create(path, descs, {{kKey, meta.dump()}}));
  for (size_t i = 0; i < descs.size(); ++i) {
    LB_RETURN_IF_ERROR(w->Write(descs[i].name, data[i].first, data[i].second));
  }
  return w->Commit();
}

Result<TrainState> ReadCheckpoint(const std::string& path,
                                  const std::string& fingerprint) {
  LB_ASSIGN_OR_RETURN(auto f, SafetensorsFile::Open(path));
  const auto bad = [&](const std::string& what) {
    return BadInput(path + ": " + what);
  };
  auto it = f->metadata().find(kKey);
  if (it == f->metadata().end()) {
    return bad("not a lowbit training checkpoint");
  }
  const nlohmann::json meta =
      nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  if (!meta.is_object() || meta.value("format", 0) != 1 ||
      !meta.contains("fingerprint") || !meta["fingerprint"].is_string()) {
    return bad("a checkpoint of an unknown format");
  }
  const std::string fp = meta["fingerprint"].get<std::string>();
  if (fp != fingerprint) {
    return bad("a checkpoint of another run (" + fp + "); this run is " +
               fingerprint);
  }
  TrainState s;
  const auto count = [&](const char* key, int64_t* out) -> bool {
    if (!meta.contains(key) || !meta[key].is_number_integer()) return false;
    *out = meta[key].get<int64_t>();
    return *out >= 0 && *out <= (int64_t{1} << 40);
  };
  int64_t epochs = 0, values = 0, first = 0, second = 0;
  if (!count("epochs_done", &epochs) || epochs > 100000 ||
      !count("steps_done", &s.steps_done) ||
      !count("optimizer_steps", &s.optimizer_steps) ||
      !count("values", &values) || !count("first", &first) ||
      !count("second", &second) || values > 100000 || first > 100000 ||
      second > 100000) {
    return bad("a checkpoint whose counts are missing or out of range");
  }
  s.epochs_done = static_cast<int>(epochs);
  if (meta.contains("epochs") && meta["epochs"].is_array()) {
    for (const auto& e : meta["epochs"]) {
      if (!e.is_object()) return bad("a malformed epoch report");
      EpochReport r;
      r.epoch = e.value("epoch", 0);
      r.loss = e.value("loss", 0.0);
      r.train_accuracy = e.value("train_accuracy", 0.0);
      r.seconds = e.value("seconds", 0.0);
      r.validation = e.value("validation", -1.0);
      s.epochs.push_back(r);
    }
  }
  const auto tensor =
      [&](const std::string& name) -> Result<const SafetensorsEntry*> {
    const SafetensorsEntry* e = f->Find(name);
    if (e == nullptr || e->dtype != DType::kF32) {
      return bad("tensor '" + name + "' is missing or not F32");
    }
    return e;
  };
  int64_t best = 0;
  if (meta.contains("best_values") &&
      (!count("best_values", &best) || (best != 0 && best != values))) {
    return bad("a checkpoint whose best state does not fit");
  }
  if (meta.contains("validation") && meta["validation"].is_object()) {
    const auto& v = meta["validation"];
    s.validation.start = v.value("start", -1.0);
    s.validation.best = v.value("best", -1.0);
    s.validation.best_epoch = v.value("best_epoch", 0);
    if (s.validation.best_epoch < 0 || s.validation.best_epoch > epochs) {
      return bad("a checkpoint whose best epoch is out of range");
    }
  }
  for (const auto& [prefix, n, out] :
       {std::tuple{"value/", values, &s.values},
        std::tuple{"best/", best, &s.best_values}}) {
    for (int64_t k = 0; k < n; ++k) {
      LB_ASSIGN_OR_RETURN(const SafetensorsEntry* e,
                          tensor(prefix + std::to_string(k)));
      graph::Tensor t = graph::Tensor::Zeros(DType::kF32, e->shape);
      std::memcpy(t.data<float>(), e->data, static_cast<size_t>(e->nbytes));
      out->push_back(std::move(t));
    }
  }
  for (size_t k = 0; k < s.best_values.size(); ++k) {
    if (s.best_values[k].shape() != s.values[k].shape()) {
      return bad("a checkpoint whose best state does not fit");
    }
  }
  for (auto [name, n, out] : {std::tuple{"first/", first, &s.first},
                              std::tuple{"second/", second, &s.second}}) {
    for (int64_t k = 0; k < n; ++k) {
      LB_ASSIGN_OR_RETURN(const SafetensorsEntry* e,
                          tensor(name + std::to_string(k)));
      if (e->shape.size() != 1) return bad(std::string(name) + " not 1-D");
      std::vector<float> m(static_cast<size_t>(e->shape[0]));
      std::memcpy(m.data(), e->data, static_cast<size_t>(e->nbytes));
      out->push_back(std::move(m));
    }
  }
  return s;
}

std::string CheckpointPath(const TrainOptions& t, const std::string& out) {
  if (t.checkpoint == "none") return "";
  return t.checkpoint.empty() ? out + ".ckpt" : t.checkpoint;
}

Status UseCheckpoints(const std::string& path, const std::string& resume,
                      const std::string& fingerprint, TrainState* state,
                      TrainHooks* hooks) {
  if (!resume.empty()) {
    auto s = ReadCheckpoint(resume, fingerprint);
    if (!s.ok()) {
      return s.status().code() == StatusCode::kBadInput
                 ? s.status()
                 : s.status().WithPrefix("--resume");
    }
    *state = std::move(s).value();
    hooks->resume = state;
  }
  if (!path.empty()) {
    hooks->on_epoch = [path, fingerprint](const TrainState& s) {
      return WriteCheckpoint(path, fingerprint, s);
    };
  }
  return Status::Ok();
}

}  // namespace lowbit
