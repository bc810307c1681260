#!/usr/bin/python3
"""Small ONNX models with LSTM, GRU and If, and their inputs as .npy files,
for tools/lowbit/rnn_cli_test.cc: lowbit run and ONNX Runtime
(tools/ort/run_npy.js) must give the same outputs.

  /usr/bin/python3 tests/onnx_rnn_if_models.py OUT_DIR

Writes OUT_DIR/<model>.onnx and OUT_DIR/<model>.<input>.npy for every model
input, and OUT_DIR/models.txt: one line per model run, "<model> <input>=<file>
...". Weights are random with a fixed seed.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)


def rand(*shape, scale=0.5):
    return (rng.uniform(-scale, scale, size=shape)).astype(np.float32)


def save(out, name, nodes, inputs, outputs, inits, opset):
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, os.path.join(out, name + ".onnx"))


def f32_info(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def lstm(out, runs):
    # Bidirectional, bias, peepholes, initial states, mixed lengths, clip.
    seq, batch, inp, hid, dirs = 6, 3, 5, 4, 2
    inits = [
        numpy_helper.from_array(rand(dirs, 4 * hid, inp), "W"),
        numpy_helper.from_array(rand(dirs, 4 * hid, hid), "R"),
        numpy_helper.from_array(rand(dirs, 8 * hid), "B"),
        numpy_helper.from_array(np.array([6, 2, 4], np.int32), "lens"),
        numpy_helper.from_array(rand(dirs, 3 * hid), "P"),
    ]
    node = helper.make_node(
        "LSTM", ["X", "W", "R", "B", "lens", "h0", "c0", "P"],
        ["Y", "Y_h", "Y_c"], name="lstm", hidden_size=hid,
        direction="bidirectional", clip=2.5)
    save(out, "lstm", [node],
         [f32_info("X", [seq, batch, inp]), f32_info("h0", [dirs, batch, hid]),
          f32_info("c0", [dirs, batch, hid])],
         [f32_info("Y", None), f32_info("Y_h", None), f32_info("Y_c", None)],
         inits, 14)
    files = {"X": rand(seq, batch, inp, scale=1.5),
             "h0": rand(dirs, batch, hid), "c0": rand(dirs, batch, hid)}
    runs.append(("lstm", files))


def lstm_coupled(out, runs):
    # input_forget, peepholes, other activations with alpha and beta.
    seq, batch, inp, hid = 4, 2, 3, 5
    inits = [
        numpy_helper.from_array(rand(1, 4 * hid, inp), "W"),
        numpy_helper.from_array(rand(1, 4 * hid, hid), "R"),
        numpy_helper.from_array(rand(1, 8 * hid), "B"),
        numpy_helper.from_array(rand(1, 3 * hid), "P"),
    ]
    node = helper.make_node(
        "LSTM", ["X", "W", "R", "B", "", "", "", "P"], ["Y", "Y_h", "Y_c"],
        name="lstm", hidden_size=hid, input_forget=1,
        activations=["HardSigmoid", "LeakyRelu", "Tanh"],
        activation_alpha=[0.3, 0.2], activation_beta=[0.4])
    save(out, "lstm_coupled", [node], [f32_info("X", [seq, batch, inp])],
         [f32_info("Y", None), f32_info("Y_h", None), f32_info("Y_c", None)],
         inits, 14)
    runs.append(("lstm_coupled", {"X": rand(seq, batch, inp, scale=1.5)}))


def gru(out, runs, lbr):
    # Reverse, bias, initial state, mixed lengths; linear_before_reset lbr.
    seq, batch, inp, hid = 5, 4, 3, 6
    name = "gru_lbr%d" % lbr
    inits = [
        numpy_helper.from_array(rand(1, 3 * hid, inp), "W"),
        numpy_helper.from_array(rand(1, 3 * hid, hid), "R"),
        numpy_helper.from_array(rand(1, 6 * hid), "B"),
        # An empty sequence with linear_before_reset 0: zeros in Y_h.
        numpy_helper.from_array(np.array([5, 1 - lbr, 3, 5], np.int32),
                                "lens"),
    ]
    node = helper.make_node(
        "GRU", ["X", "W", "R", "B", "lens", "h0"], ["Y", "Y_h"], name="gru",
        hidden_size=hid, direction="reverse", linear_before_reset=lbr)
    save(out, name, [node],
         [f32_info("X", [seq, batch, inp]), f32_info("h0", [1, batch, hid])],
         [f32_info("Y", None), f32_info("Y_h", None)], inits, 14)
    runs.append((name, {"X": rand(seq, batch, inp, scale=1.5),
                        "h0": rand(1, batch, hid)}))


def nested_if(out, runs):
    # y = If(c1, then: If(c2, then: GRU-free x*w + z, else: -z), else: x + 1)
    # where z = Relu(x) is computed in the top graph and read by the inner
    # branches.
    x = f32_info("x", [2, 3])
    c1 = helper.make_tensor_value_info("c1", TensorProto.BOOL, [])
    c2 = helper.make_tensor_value_info("c2", TensorProto.BOOL, [])
    w = numpy_helper.from_array(rand(2, 3), "w")
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    inner_then = helper.make_graph(
        [helper.make_node("Mul", ["x", "w"], ["xw"]),
         helper.make_node("Add", ["xw", "z"], ["it"])],
        "inner_then", [], [f32_info("it", None)])
    inner_else = helper.make_graph(
        [helper.make_node("Neg", ["z"], ["ie"])], "inner_else", [],
        [f32_info("ie", None)])
    outer_then = helper.make_graph(
        [helper.make_node("If", ["c2"], ["ot"], name="inner",
                          then_branch=inner_then, else_branch=inner_else)],
        "outer_then", [], [f32_info("ot", None)])
    outer_else = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["oe"])], "outer_else", [],
        [f32_info("oe", None)])
    nodes = [
        helper.make_node("Relu", ["x"], ["z"]),
        helper.make_node("If", ["c1"], ["y"], name="outer",
                         then_branch=outer_then, else_branch=outer_else),
    ]
    save(out, "nested_if", nodes, [x, c1, c2], [f32_info("y", None)],
         [w, one], 13)
    xv = rand(2, 3, scale=2.0)
    for a in (False, True):
        for b in (False, True):
            runs.append(("nested_if", {"x": xv, "c1": np.array(a),
                                       "c2": np.array(b)}))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    runs = []
    lstm(out, runs)
    lstm_coupled(out, runs)
    gru(out, runs, 0)
    gru(out, runs, 1)
    nested_if(out, runs)
    with open(os.path.join(out, "models.txt"), "w") as f:
        for i, (model, files) in enumerate(runs):
            args = []
            for name, value in files.items():
                path = os.path.join(out, "%s.%d.%s.npy" % (model, i, name))
                np.save(path, value)
                args.append("%s=%s" % (name, path))
            f.write("%s %s\n" % (model, " ".join(args)))


if __name__ == "__main__":
    main()
