// Unit tests of io/onnx_model.cc and io/onnx_quantized.cc through their public
// functions, including calls the command line never makes: typed data fields
// of every element type, 4-bit pairs, rank-1 MatMul weights, axes outside the
// shape.
#include "io/onnx_model.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "core/half.h"
#include "io/onnx_quantized.h"
#include "quant/quantize.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

class OnnxModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::path(::testing::TempDir()) /
        ("lowbit_onnx_model_" +
         std::string(
             ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A model whose one node (MatMul x, w or Identity w) reads initializer `t`.
  std::string Save(const onnx::TensorProto& t, const std::string& op) {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    onnx::GraphProto& g = *m.mutable_graph();
    *g.add_initializer() = t;
    onnx::NodeProto& n = *g.add_node();
    n.set_op_type(op);
    if (op == "MatMul") {
      g.add_input()->set_name("x");
      n.add_input("x");
    }
    n.add_input(t.name());
    n.add_output("y");
    g.add_output()->set_name("y");
    const std::string path = (dir_ / "m.onnx").string();
    std::string s;
    EXPECT_TRUE(m.SerializeToString(&s));
    std::ofstream(path, std::ios::binary) << s;
    return path;
  }

  fs::path dir_;
};

onnx::TensorProto Typed(int type, std::vector<int64_t> dims,
                        std::vector<int32_t> values) {
  onnx::TensorProto t;
  t.set_name("w");
  t.set_data_type(type);
  for (int64_t d : dims) t.add_dims(d);
  for (int32_t v : values) t.add_int32_data(v);
  return t;
}

TEST_F(OnnxModelTest, Float16FromInt32DataReadsAsFloat) {
  // f16 bits in int32_data, one per element.
  const std::vector<float> want = {1.0f, -2.5f, 0.125f, 65504.0f};
  std::vector<int32_t> bits;
  for (float f : want) bits.push_back(F32ToF16(f));
  auto m = OnnxModel::Open(
      Save(Typed(onnx::TensorProto::FLOAT16, {2, 2}, bits), "Identity"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  const ModelTensor* t = (*m)->Find("w");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->stored_bytes, 8u);
  auto v = (*m)->ReadFloat(*t);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(*v, want);
}

TEST_F(OnnxModelTest, EveryTypedFieldIsCheckedAgainstTheShape) {
  struct Case {
    int type;
    int64_t need;  // int32_data values for a 3 x 5 tensor
  };
  for (const Case c :
       {Case{onnx::TensorProto::FLOAT16, 15},
        Case{onnx::TensorProto::BFLOAT16, 15},
        Case{onnx::TensorProto::INT8, 15}, Case{onnx::TensorProto::UINT8, 15},
        Case{onnx::TensorProto::INT16, 15}, Case{onnx::TensorProto::UINT16, 15},
        Case{onnx::TensorProto::BOOL, 15}, Case{onnx::TensorProto::INT32, 15},
        Case{17, 15},    // FLOAT8E4M3FN
        Case{21, 8}}) {  // UINT4: two per value
    SCOPED_TRACE(c.type);
    for (int64_t have : {int64_t{0}, c.need - 1, c.need + 1, c.need}) {
      const std::string path = Save(
          Typed(c.type, {3, 5}, std::vector<int32_t>(have, 3)), "Identity");
      auto m = OnnxModel::Open(path);
      if (have != c.need) {
        ASSERT_FALSE(m.ok()) << have;
        EXPECT_NE(m.status().message().find(path), std::string::npos);
        EXPECT_NE(m.status().message().find("int32_data holds " +
                                            std::to_string(have)),
                  std::string::npos)
            << m.status().message();
        continue;
      }
      ASSERT_TRUE(m.ok()) << m.status().message();
      auto b = (*m)->ReadBytes(*(*m)->Find("w"));
      ASSERT_TRUE(b.ok()) << b.status().message();
      EXPECT_EQ(b->size(), (*m)->Find("w")->stored_bytes);
      EXPECT_EQ((*b)[0], 3);
    }
  }
}

TEST_F(OnnxModelTest, AZeroDimensionDoesNotHideHugeOnes) {
  // 0 elements, but 2^31 x 2^31 would overflow any product of the others.
  auto m =
      OnnxModel::Open(Save(Typed(onnx::TensorProto::FLOAT,
                                 {0, int64_t{1} << 31, int64_t{1} << 31}, {}),
                           "Identity"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("more than 2^40"), std::string::npos)
      << m.status().message();
  // Small dimensions beside a zero are fine: an empty tensor.
  m = OnnxModel::Open(
      Save(Typed(onnx::TensorProto::FLOAT, {0, 16, 4}, {}), "Identity"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ((*m)->Find("w")->stored_bytes, 0u);
}

TEST_F(OnnxModelTest, ExternalDataIsCheckedWithoutBeingCopied) {
  onnx::TensorProto t;
  t.set_name("w");
  t.set_data_type(onnx::TensorProto::FLOAT);
  t.add_dims(4);
  t.add_dims(4);
  t.set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const std::string& k, const std::string& v) {
    auto* e = t.add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", "w.bin");
  add("offset", "9223372036854775807");  // INT64_MAX: no overflow in the check
  std::ofstream(dir_ / "w.bin", std::ios::binary) << std::string(64, '\1');
  auto m = OnnxModel::Open(Save(t, "Identity"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("pass the end"), std::string::npos)
      << m.status().message();
  t.mutable_external_data(1)->set_value("12abc");
  m = OnnxModel::Open(Save(t, "Identity"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("not a number"), std::string::npos)
      << m.status().message();
  t.mutable_external_data(1)->set_value("0");
  m = OnnxModel::Open(Save(t, "Identity"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  auto b = (*m)->ReadBytes(*(*m)->Find("w"));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, std::vector<uint8_t>(64, 1));
}

// An external tensor of 16 floats at `offset` of `location`.
onnx::TensorProto External(const std::string& name, const std::string& location,
                           const std::string& offset,
                           const std::string& length = "") {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  t.add_dims(16);
  t.set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const std::string& k, const std::string& v) {
    auto* e = t.add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", location);
  add("offset", offset);
  if (!length.empty()) add("length", length);
  return t;
}

TEST_F(OnnxModelTest, ExternalDataCannotBeSharedNegativeOrLeaveTheFolder) {
  std::ofstream(dir_ / "w.bin", std::ios::binary) << std::string(256, '\1');
  // Two initializers over the same bytes: each would be copied in full.
  {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    auto& g = *m.mutable_graph();
    *g.add_initializer() = External("a", "w.bin", "0");
    *g.add_initializer() = External("b", "w.bin", "32");  // overlaps a
    auto& n = *g.add_node();
    n.set_op_type("Add");
    n.add_input("a");
    n.add_input("b");
    n.add_output("y");
    std::string bytes;
    ASSERT_TRUE(m.SerializeToString(&bytes));
    std::ofstream(dir_ / "m.onnx", std::ios::binary) << bytes;
    auto r = OnnxModel::Open((dir_ / "m.onnx").string());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("share bytes"), std::string::npos)
        << r.status().message();
    // Side by side is fine.
    g.mutable_initializer(1)->mutable_external_data(1)->set_value("64");
    ASSERT_TRUE(m.SerializeToString(&bytes));
    std::ofstream(dir_ / "m.onnx", std::ios::binary) << bytes;
    EXPECT_TRUE(OnnxModel::Open((dir_ / "m.onnx").string()).ok());
  }
  auto refused = [&](const onnx::TensorProto& t, const std::string& phrase) {
    auto r = OnnxModel::Open(Save(t, "Identity"));
    ASSERT_FALSE(r.ok()) << phrase;
    EXPECT_NE(r.status().message().find(phrase), std::string::npos)
        << r.status().message();
  };
  refused(External("w", "w.bin", "0", "-5"), "negative length");
  // A symbolic link inside the folder that leads outside it.
  fs::create_symlink("/etc/hostname", dir_ / "link.bin");
  refused(External("w", "link.bin", "0"), "outside the model's folder");
  // A FIFO is refused at once instead of blocking the reader.
  ASSERT_EQ(::mkfifo((dir_ / "fifo.bin").c_str(), 0600), 0);
  refused(External("w", "fifo.bin", "0"), "not a regular file");
}

TEST_F(OnnxModelTest, RankOneMatMulWeightIsNotAWeightAndIsNotWritten) {
  onnx::TensorProto t;
  t.set_name("w");
  t.set_data_type(onnx::TensorProto::FLOAT);
  t.add_dims(64);
  for (int i = 0; i < 64; ++i) t.add_float_data(0.01f * i - 0.3f);
  auto m = OnnxModel::Open(Save(t, "MatMul"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_TRUE((*m)->Weights(false).empty());
  // Asked anyway, every encoding refuses (or writes) without reading past the
  // shape: MatMulNBits used to read shape[1] of a rank-1 weight.
  auto data = (*m)->ReadFloat(*(*m)->Find("w"));
  ASSERT_TRUE(data.ok());
  QuantConfig c;
  c.scheme = *ParseScheme("int4");
  c.granularity = static_cast<int>(Granularity::kGroup);
  c.group_size = 16;
  ThreadPool pool(1);
  auto q = Quantize(data->data(), Shape{64, 1}, c, pool);
  ASSERT_TRUE(q.ok()) << q.status().message();
  auto w = WriteOnnxWeight((*m)->proto(), 13, "w", Shape{64}, 0, *q,
                           OnnxEncoding::kMatMulNBits);
  EXPECT_FALSE(w.ok());
  w = WriteOnnxWeight((*m)->proto(), 13, "w", Shape{64}, 1, *q,
                      OnnxEncoding::kDecode);
  EXPECT_FALSE(w.ok());  // axis 1 of a rank-1 shape
}

TEST(OnnxQuantized, AxisMovesRoundTripAndRefuseAxesOutsideTheShape) {
  const Shape s{2, 3, 4};
  std::vector<float> x(24);
  for (int i = 0; i < 24; ++i) x[i] = static_cast<float>(i);
  for (int axis = 0; axis < 3; ++axis) {
    const std::vector<float> f = AxisToFront(x.data(), s, axis);
    ASSERT_EQ(f.size(), 24u);
    EXPECT_EQ(AxisFromFront(f.data(), s, axis), x) << axis;
  }
  // axis 1: element [i][j][k] = 12 i + 4 j + k goes to [j][i][k].
  const std::vector<float> f = AxisToFront(x.data(), s, 1);
  EXPECT_EQ(f[1 * 8 + 1 * 4 + 2], 12 + 4 + 2);
  EXPECT_TRUE(AxisToFront(x.data(), s, 3).empty());
  EXPECT_TRUE(AxisToFront(x.data(), s, -1).empty());
  EXPECT_TRUE(AxisFromFront(x.data(), Shape{}, 0).empty());
}

}  // namespace
}  // namespace lowbit
