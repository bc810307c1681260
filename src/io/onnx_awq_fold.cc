#include "io/onnx_awq_fold.h"

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

}  // namespace

bool FoldInputScale(onnx::GraphProto& g, int reader,
                    const std::vector<float>& inv, int64_t* stored_bytes,
                    std::string* how) {
  const onnx::NodeProto& rd = g.node(reader);
  const std::string& x = rd.input(0);
  const bool conv = rd.op_type() == "Conv";
  // The input's channel axis: 1 of Conv's NCHW input; the last for MatMul and
  // Gemm (axis 1 of a rank-2 view: constants align on the right, so a per-
  // channel constant meets the last axis whatever the rank).
  const int rank = conv ? 4 : 2, axis = 1;
  const int64_t n = static_cast<int64_t>(inv.size());
  const int p = Producer(g, x);
  if (p < 0 || Readers(g, x) != 1) return false;
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
  for (size_t k = 0; k < targets.size(); ++k) {
    const auto [node, in] = targets[k];
    const onnx::TensorProto* t = FloatInit(g, g.node(node).input(in), &vals[k]);
    if (t == nullptr) return false;
    const bool bn = g.node(node).op_type() == "BatchNormalization";
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
    std::vector<int64_t> dims;
    for (const auto& t : g.initializer()) {
      if (t.name() == old) dims.assign(t.dims().begin(), t.dims().end());
    }
    const std::string name =
        rd.input(1) + "/lowbit_awq_folded_" + std::to_string(k) + "_" + old;
    onnx::TensorProto* t = g.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
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
