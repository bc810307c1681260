// Hostile ONNX initializers through the command (issue 12's reproducers): a
// typed data field (int32_data) shorter than the shape needs, or empty, for
// every element type stored in it; huge shapes with no data. convert, quantize
// and inspect must refuse each with one line naming the file, exit 2 and
// leave nothing behind (no output, no temporary file).
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>

#include "tools/lowbit/cli_fixture.h"

namespace lowbit::testing_cli {
namespace {

// A graph of one Identity node over one initializer `w` of `type` and `dims`,
// holding `values` int32_data entries of 64.
onnx::ModelProto OneInitializer(int type, std::vector<int64_t> dims,
                                int values) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto& g = *m.mutable_graph();
  onnx::TensorProto& t = *g.add_initializer();
  t.set_name("w");
  t.set_data_type(type);
  for (int64_t d : dims) t.add_dims(d);
  for (int i = 0; i < values; ++i) t.add_int32_data(64);
  onnx::NodeProto& n = *g.add_node();
  n.set_op_type("Identity");
  n.add_input("w");
  n.add_output("y");
  g.add_output()->set_name("y");
  return m;
}

void Save(const onnx::ModelProto& m, const std::string& path) {
  std::string s;
  ASSERT_TRUE(m.SerializeToString(&s));
  std::ofstream(path, std::ios::binary) << s;
}

class OnnxHostile : public CliFixture {
 protected:
  OnnxHostile() : CliFixture("out.safetensors") {}
};

const int kInt32DataTypes[] = {
    onnx::TensorProto::FLOAT16, onnx::TensorProto::BFLOAT16,
    onnx::TensorProto::INT8,    onnx::TensorProto::UINT8,
    onnx::TensorProto::INT16,   onnx::TensorProto::UINT16,
    onnx::TensorProto::BOOL,    onnx::TensorProto::INT32,
    17 /* FLOAT8E4M3FN */,      22 /* INT4 */};

TEST_F(OnnxHostile, ShortTypedFieldsAreRefusedByEveryCommand) {
  for (int type : kInt32DataTypes) {
    // 16 x 16 needs 256 values (128 for INT4): none, one, and one too few.
    const int need = type == 22 ? 128 : 256;
    for (int values : {0, 1, need - 1}) {
      SCOPED_TRACE("type " + std::to_string(type) + ", " +
                   std::to_string(values) + " values");
      Save(OneInitializer(type, {16, 16}, values), P("bad.onnx"));
      ExpectBadInput("convert " + P("bad.onnx"), P("bad.onnx"),
                     "int32_data holds " + std::to_string(values) + " values");
      ExpectBadInput("inspect " + P("bad.onnx"), P("bad.onnx"), "int32_data",
                     "");
      ExpectBadInput("quantize " + P("bad.onnx") + " --scheme int8",
                     P("bad.onnx"), "int32_data", "out.onnx");
      fs::remove(P("bad.onnx"));
    }
  }
}

TEST_F(OnnxHostile, HugeShapesWithoutDataAreRefusedBeforeAllocating) {
  for (int type : {onnx::TensorProto::FLOAT16, onnx::TensorProto::FLOAT,
                   onnx::TensorProto::UINT8}) {
    // 2^39 elements claimed by a file of under 100 bytes.
    Save(OneInitializer(type, {1 << 20, 1 << 19}, 0), P("huge.onnx"));
    ExpectBadInput("convert " + P("huge.onnx"), P("huge.onnx"), "need");
    ExpectBadInput("inspect " + P("huge.onnx"), P("huge.onnx"), "need", "");
    fs::remove(P("huge.onnx"));
  }
  // Past 2^40 elements: refused by the count itself.
  Save(OneInitializer(onnx::TensorProto::FLOAT, {1 << 30, 1 << 30}, 0),
       P("huger.onnx"));
  ExpectBadInput("inspect " + P("huger.onnx"), P("huger.onnx"), "2^40", "");
}

TEST_F(OnnxHostile, CompleteTypedFieldsAreRead) {
  // The same files with every value present are read: int32_data 64 holds
  // the f16 bits 0x0040 (2^-18, a subnormal) and the bf16 bits 0x0040
  // (2^-126 * 0.5); convert writes them as f32.
  for (int type : {onnx::TensorProto::FLOAT16, onnx::TensorProto::BFLOAT16}) {
    Save(OneInitializer(type, {4, 4}, 16), P("ok.onnx"));
    const RunResult r = Run("inspect --json " + P("ok.onnx"));
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["tensors"].size(), 1u);
    EXPECT_EQ(j["tensors"][0]["params"], 16);
    ASSERT_EQ(
        Run("convert " + P("ok.onnx") + " -o " + P("ok.safetensors")).status,
        0);
    const std::string out = ReadAll(P("ok.safetensors"));
    ASSERT_GE(out.size(), 64u);
    float last;
    std::memcpy(&last, out.data() + out.size() - 4, 4);
    const float want = type == onnx::TensorProto::FLOAT16
                           ? std::ldexp(1.0f, -18)
                           : std::ldexp(1.0f, -127);
    EXPECT_EQ(last, want) << type;
    fs::remove(P("ok.onnx"));
    fs::remove(P("ok.safetensors"));
  }
}

}  // namespace
}  // namespace lowbit::testing_cli
