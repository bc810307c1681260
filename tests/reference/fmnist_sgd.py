#!/usr/bin/env python3
"""An independent reference for lowbit's training loop (issue 15): the
Fashion-MNIST CNN of src/train/fmnist_cnn.h written out in numpy, forward and
backward by hand, trained with SGD with momentum (PyTorch's form: v = mu v + g,
w -= lr v) on batches taken in order, softmax cross-entropy averaged over the
batch. Reads the initial weights from the ONNX file (python3-onnx), the images
[N, 1, 28, 28] and labels [N] from .npy files; prints the loss of every step as
JSON.

usage: fmnist_sgd.py MODEL.onnx IMAGES.npy LABELS.npy BATCH STEPS LR MOMENTUM
"""
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def conv_forward(x, w, b):
    """3x3 valid convolution, stride 1: x [N, C, H, W], w [M, C, 3, 3]."""
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    oh, ow = h - kh + 1, wd - kw + 1
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x[:, :, i:i + oh, j:j + ow]
    y = np.einsum("nckluv,mckl->nmuv", cols, w) + b[None, :, None, None]
    return y, cols


def conv_backward(dy, cols, w, x_shape):
    n, c, h, wd = x_shape
    _, _, kh, kw = w.shape
    oh, ow = dy.shape[2], dy.shape[3]
    dw = np.einsum("nmuv,nckluv->mckl", dy, cols)
    db = dy.sum(axis=(0, 2, 3))
    dcols = np.einsum("nmuv,mckl->nckluv", dy, w)
    dx = np.zeros(x_shape, dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + oh, j:j + ow] += dcols[:, :, i, j]
    return dx, dw, db


def pool_forward(x):
    """2x2 max pool, stride 2 (floor)."""
    n, c, h, w = x.shape
    h2, w2 = h // 2, w // 2
    v = x[:, :, :2 * h2, :2 * w2].reshape(n, c, h2, 2, w2, 2)
    y = v.max(axis=(3, 5))
    # The first maximum of each window (row-major), as a mask.
    flat = v.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h2, w2, 4)
    arg = flat.argmax(axis=4)
    return y, arg


def pool_backward(dy, arg, x_shape):
    n, c, h, w = x_shape
    h2, w2 = dy.shape[2], dy.shape[3]
    dx = np.zeros(x_shape, dtype=np.float64)
    di, dj = arg // 2, arg % 2
    nn, cc, uu, vv = np.meshgrid(np.arange(n), np.arange(c), np.arange(h2),
                                 np.arange(w2), indexing="ij")
    dx[nn, cc, 2 * uu + di, 2 * vv + dj] += dy
    return dx


def step(p, x, labels):
    """Loss and gradients of the batch."""
    xn = (x - p["input.mean"]) * p["input.inv_std"]
    c1, cols1 = conv_forward(xn, p["conv1.weight"], p["conv1.bias"])
    r1 = np.maximum(c1, 0)
    p1, a1 = pool_forward(r1)
    c2, cols2 = conv_forward(p1, p["conv2.weight"], p["conv2.bias"])
    r2 = np.maximum(c2, 0)
    p2, a2 = pool_forward(r2)
    f = p2.reshape(p2.shape[0], -1)
    h = f @ p["fc1.weight"].T + p["fc1.bias"]
    r3 = np.maximum(h, 0)
    z = r3 @ p["fc2.weight"].T + p["fc2.bias"]
    zs = z - z.max(axis=1, keepdims=True)
    e = np.exp(zs)
    prob = e / e.sum(axis=1, keepdims=True)
    b = x.shape[0]
    loss = -np.log(prob[np.arange(b), labels]).mean()
    dz = prob.copy()
    dz[np.arange(b), labels] -= 1
    dz /= b
    g = {}
    g["fc2.weight"] = dz.T @ r3
    g["fc2.bias"] = dz.sum(axis=0)
    dr3 = dz @ p["fc2.weight"]
    dh = dr3 * (h > 0)
    g["fc1.weight"] = dh.T @ f
    g["fc1.bias"] = dh.sum(axis=0)
    df = dh @ p["fc1.weight"]
    dp2 = df.reshape(p2.shape)
    dr2 = pool_backward(dp2, a2, r2.shape)
    dc2 = dr2 * (c2 > 0)
    dp1, g["conv2.weight"], g["conv2.bias"] = conv_backward(
        dc2, cols2, p["conv2.weight"], p1.shape)
    dr1 = pool_backward(dp1, a1, r1.shape)
    dc1 = dr1 * (c1 > 0)
    _, g["conv1.weight"], g["conv1.bias"] = conv_backward(
        dc1, cols1, p["conv1.weight"], xn.shape)
    return loss, g


def main():
    model, images, labels, batch, steps, lr, mu = sys.argv[1:8]
    batch, steps, lr, mu = int(batch), int(steps), float(lr), float(mu)
    m = onnx.load(model)
    p = {t.name: numpy_helper.to_array(t).astype(np.float64)
         for t in m.graph.initializer}
    x_all = np.load(images).astype(np.float64)
    y_all = np.load(labels).astype(np.int64)
    trained = [k for k in p if k.endswith(".weight") or k.endswith(".bias")]
    v = {k: np.zeros_like(p[k]) for k in trained}
    losses = []
    for s in range(steps):
        b0 = s * batch
        loss, g = step(p, x_all[b0:b0 + batch], y_all[b0:b0 + batch])
        losses.append(float(loss))
        for k in trained:
            v[k] = mu * v[k] + g[k]
            p[k] -= lr * v[k]
    print(json.dumps({"losses": losses}))


if __name__ == "__main__":
    main()
