#include "graph/autodiff.h"

#include <algorithm>

#include "graph/grad/grad.h"
#include "graph/session.h"

namespace lowbit::graph {

Result<std::unique_ptr<Tape>> Tape::Create(
    std::shared_ptr<Graph> g, const std::vector<std::string>& params,
    ThreadPool& pool) {
  std::unique_ptr<Tape> t(new Tape(std::move(g), pool));
  LB_RETURN_IF_ERROR(t->Prepare(params));
  return t;
}

Status Tape::Prepare(const std::vector<std::string>& params) {
  Graph& g = *g_;
  const size_t nv = g.value_names.size();
  // Producers, then Kahn's order.
  std::vector<int> producer(nv, -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const OpSchema* op = FindOp(n.domain, n.op);
    if (op == nullptr) {
      return InvalidArgument(g.NodeLabel(n) + ": operator not supported");
    }
    schema_.push_back(op);
    for (int o : n.outputs) {
      if (o >= 0) producer[o] = static_cast<int>(i);
    }
  }
  std::vector<int> pending(g.nodes.size(), 0);
  std::vector<std::vector<int>> users(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (int v : g.nodes[i].inputs) {
      if (v >= 0 && producer[v] >= 0) {
        ++pending[i];
        users[producer[v]].push_back(static_cast<int>(i));
      }
    }
  }
  std::vector<int> ready;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (pending[i] == 0) ready.push_back(static_cast<int>(i));
  }
  while (!ready.empty()) {
    const int i = ready.back();
    ready.pop_back();
    order_.push_back(i);
    for (int u : users[i]) {
      if (--pending[u] == 0) ready.push_back(u);
    }
  }
  if (order_.size() != g.nodes.size()) {
    return InvalidArgument("the graph has a cycle");
  }
  // Parameters, and every value computed from one through a differentiable
  // input.
  requires_.assign(nv, false);
  for (const std::string& p : params) {
    const int id = g.Find(p);
    if (id < 0 || !g.constants.count(id)) {
      return InvalidArgument("parameter '" + p +
                             "' is no constant tensor of the model");
    }
    if (g.constants.at(id).dtype() != DType::kF32) {
      return InvalidArgument("parameter '" + p + "' is not f32");
    }
    params_.push_back(p);
    param_ids_.push_back(id);
    requires_[id] = true;
  }
  for (int i : order_) {
    const Node& n = g.nodes[i];
    const GradSchema* gs = FindGrad(n.domain, n.op);
    bool any = false;
    for (int k = 0; k < n.num_inputs(); ++k) {
      const int v = n.inputs[k];
      if (v < 0 || !requires_[v]) continue;
      if (gs != nullptr && std::count(gs->non_differentiable.begin(),
                                      gs->non_differentiable.end(), k)) {
        continue;
      }
      any = true;
    }
    if (!any) continue;
    if (gs == nullptr) {
      return InvalidArgument(g.NodeLabel(n) +
                             ": no gradient for this operator (lowbit "
                             "differentiates " +
                             std::to_string(OpsWithGradients().size()) +
                             " operators)");
    }
    for (int o : n.outputs) {
      if (o >= 0) requires_[o] = true;
    }
  }
  return Status::Ok();
}

int Tape::SetBatchNormTraining(bool on) {
  bn_training_ = on;
  bn_train_nodes_.clear();
  if (!on) return 0;
  Graph& g = *g_;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.op != "BatchNormalization" || !n.domain.empty() || !n.Has(4) ||
        !g.constants.count(n.inputs[3]) || !g.constants.count(n.inputs[4])) {
      continue;
    }
    Node m = n;
    Attribute a;
    a.kind = Attribute::Kind::kInt;
    a.i = 1;
    m.attrs["training_mode"] = a;
    // Placeholders: EvaluateNode only asks whether an output is wanted.
    m.outputs = {n.outputs[0], 0, 0};
    bn_train_nodes_[static_cast<int>(i)] = std::move(m);
  }
  return static_cast<int>(bn_train_nodes_.size());
}

Tensor& Tape::param(const std::string& name) {
  return g_->constants.at(g_->Find(name));
}

Result<std::vector<Tensor>> Tape::Forward(
    const std::map<std::string, Tensor>& feeds) {
  Graph& g = *g_;
  // The last step's values: their storage is reused where nobody else holds
  // it (the same shapes, step after step).
  std::vector<Tensor> spare = std::move(values_);
  spare.resize(g.value_names.size());
  values_.assign(g.value_names.size(), Tensor());
  for (const auto& [id, t] : g.constants) values_[id] = t;
  for (size_t k = 0; k < g.inputs.size(); ++k) {
    auto it = feeds.find(g.inputs[k].name);
    if (it == feeds.end()) {
      return InvalidArgument("input '" + g.inputs[k].name + "' is not fed");
    }
    values_[g.input_ids[k]] = it->second;
  }
  for (int i : order_) {
    const auto bn = bn_train_nodes_.find(i);
    const bool bn_train = bn != bn_train_nodes_.end();
    const Node& n = bn_train ? bn->second : g.nodes[i];
    std::vector<const Tensor*> in(n.inputs.size(), nullptr);
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const int v = n.inputs[k];
      if (v < 0) continue;
      if (!values_[v].defined()) {
        return InvalidArgument(g.NodeLabel(n) + ": input '" + g.value_names[v] +
                               "' has no value");
      }
      in[k] = &values_[v];
    }
    std::vector<Tensor*> reuse;
    for (int o : g.nodes[i].outputs) {
      reuse.push_back(o >= 0 && !g.constants.count(o) ? &spare[o] : nullptr);
    }
    if (bn_train) reuse.resize(1);  // the statistics' outputs are placeholders
    LB_ASSIGN_OR_RETURN(std::vector<Tensor> out,
                        EvaluateNode(g, n, *schema_[i], in, pool_, ws_,
                                     int64_t{16} << 30, reuse));
    if (bn_train) {
      // The running statistics, updated in place (as the next step reads
      // them, and as the model is written).
      for (int k : {1, 2}) {
        Tensor& c = g.constants.at(n.inputs[k + 2]);
        std::copy_n(out[k].data<float>(), c.numel(), c.data<float>());
      }
      values_[n.outputs[0]] = std::move(out[0]);
      continue;
    }
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      if (n.outputs[k] >= 0) values_[n.outputs[k]] = std::move(out[k]);
    }
  }
  forward_done_ = true;
  std::vector<Tensor> outs;
  for (int id : g.output_ids) outs.push_back(values_[id]);
  return outs;
}

Result<std::map<std::string, Tensor>> Tape::Backward(
    const std::vector<Tensor>& output_grads, const std::vector<int>& keep,
    std::map<int, Tensor>* kept) {
  if (!forward_done_) return InvalidArgument("Backward() before Forward()");
  Graph& g = *g_;
  if (output_grads.size() != g.output_ids.size()) {
    return InvalidArgument(
        "Backward(): " + std::to_string(output_grads.size()) +
        " gradients for " + std::to_string(g.output_ids.size()) + " outputs");
  }
  std::vector<Tensor> grads(g.value_names.size());
  auto accumulate = [&](int v, Tensor t) {
    if (!grads[v].defined() || grads[v].numel() == 0) {
      grads[v] = std::move(t);
      return;
    }
    float* a = grads[v].data<float>();
    const float* b = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) a[i] += b[i];
  };
  for (size_t k = 0; k < output_grads.size(); ++k) {
    const Tensor& og = output_grads[k];
    if (!og.defined() || og.numel() == 0) continue;
    const int id = g.output_ids[k];
    if (og.shape() != values_[id].shape()) {
      return InvalidArgument("Backward(): the gradient of output '" +
                             g.value_names[id] + "' has the wrong shape");
    }
    Tensor copy = Tensor::Zeros(DType::kF32, og.shape());
    std::copy_n(og.data<float>(), og.numel(), copy.data<float>());
    accumulate(id, std::move(copy));
  }
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    // The graph's node for its values; a training-mode BatchNormalization's
    // form for its gradient.
    const Node& n = g.nodes[*it];
    const auto bn = bn_train_nodes_.find(*it);
    const Node& grad_node = bn != bn_train_nodes_.end() ? bn->second : n;
    bool any_out = false;
    std::vector<const Tensor*> dout(n.outputs.size(), nullptr),
        out(n.outputs.size(), nullptr);
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      const int o = n.outputs[k];
      if (o < 0) continue;
      // Complete here: every reader comes later in the order.
      if (kept != nullptr && grads[o].defined() && grads[o].numel() > 0 &&
          std::find(keep.begin(), keep.end(), o) != keep.end()) {
        (*kept)[o] = grads[o];
      }
      out[k] = &values_[o];
      if (grads[o].defined() && grads[o].numel() > 0) {
        dout[k] = &grads[o];
        any_out = true;
      }
    }
    if (!any_out) continue;
    const GradSchema* gs = FindGrad(n.domain, n.op);
    std::vector<bool> need(n.inputs.size(), false);
    std::vector<const Tensor*> in(n.inputs.size(), nullptr);
    bool any_in = false;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const int v = n.inputs[k];
      if (v < 0) continue;
      in[k] = &values_[v];
      need[k] = requires_[v] && gs != nullptr &&
                !std::count(gs->non_differentiable.begin(),
                            gs->non_differentiable.end(), static_cast<int>(k));
      any_in = any_in || need[k];
    }
    if (!any_in) continue;
    GradContext c(g, grad_node, in, out, dout, need, pool_, ws_);
    LB_RETURN_IF_ERROR(gs->fn(c));
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      if (!need[k]) continue;
      Tensor d = c.TakeDin(static_cast<int>(k));
      if (d.defined() && d.numel() > 0) accumulate(n.inputs[k], std::move(d));
    }
    for (int o : n.outputs) {  // no longer needed
      if (o >= 0) grads[o] = Tensor();
    }
  }
  std::map<std::string, Tensor> res;
  for (size_t k = 0; k < params_.size(); ++k) {
    const int id = param_ids_[k];
    if (grads[id].defined() && grads[id].numel() > 0) {
      res[params_[k]] = std::move(grads[id]);
    } else {
      res[params_[k]] = Tensor::Zeros(DType::kF32, g.constants.at(id).shape());
    }
  }
  return res;
}

}  // namespace lowbit::graph
