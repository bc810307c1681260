#!/usr/bin/env python3
"""An independent second opinion on lowbit's quantized safetensors files.

Usage: python_decode_check.py QUANTIZED ORIGINAL CONVERTED

QUANTIZED is a file written by `lowbit quantize`, ORIGINAL the model it was
made from, CONVERTED the output of `lowbit convert QUANTIZED -o CONVERTED`
(f32). The file is parsed here with struct + json (no safetensors package) and
every quantized tensor is decoded from the documented convention in numpy,
without any lowbit code:

  W.qcodes     U8 [rows, ceil(cols * bits / 8)]: codes, LSB-first, each row
               padded to whole bytes (rows = shape[0], cols = the rest)
  W.qscale     F16/F32 [scale_rows, groups] (U8 E8M0 codes 2^(c-127) for
               mxfp4); scale_rows = 1 per tensor, else rows
  W.qzero      U8 [scale_rows, ceil(groups * bits / 8)], packed zero points
               (asymmetric int only), or F16 [scale_rows, groups] when the
               description says "zero_type": "f16"; symmetric int uses
               zero = 2^(bits-1)
  W.qcodebook  F16/F32 [scale_rows, 2^bits] (kmeans only)
  __metadata__["lowbit.q.W"] = JSON description (scheme, shape, dtype,
               granularity, group_size, symmetric, method, scale_type)

  x = scale[group] * (level[code] - zero[group]),  kmeans: x = codebook[code]

Checks: (a) the decoded values equal CONVERTED bit for bit; (b) the relative
RMSE against ORIGINAL is below a loose bound per scheme; plus the layout of
every component and that plain tensors are carried over unchanged.

Exit status: 0 pass, 1 failure, 2 usage, 77 numpy missing (skip).
"""

import json
import math
import struct
import sys

try:
    import numpy as np
except ImportError:
    print("python_decode_check: numpy is not installed; skipping")
    sys.exit(77)

META_PREFIX = "lowbit.q."
SUFFIXES = (".qcodes", ".qscale", ".qzero", ".qcodebook")

# Loose bounds (about twice what lowbit achieves) on the relative RMSE of a
# whole tensor against the original, for per-group and per-channel scales
# (synthetic weights: Gaussian bulk, heavy tails, outlier channels). One scale
# or codebook per tensor does worse on outlier channels: the bound is
# multiplied by TENSOR_FACTOR (capped at TENSOR_CAP; an all-zero output would
# score 1).
REL_RMSE_BOUND = {
    "int2": 0.75,
    "int3": 0.35,
    "int4": 0.20,
    "int5": 0.10,
    "int6": 0.05,
    "int7": 0.03,
    "int8": 0.02,
    "binary": 0.85,
    "ternary": 0.75,
    "nf4": 0.20,
    "fp8_e4m3": 0.06,
    "fp8_e5m2": 0.12,
    "fp4_e2m1": 0.25,
    "mxfp4": 0.30,
    "kmeans2": 0.60,
    "kmeans3": 0.30,
    "kmeans4": 0.15,
    "kmeans5": 0.08,
    "kmeans6": 0.04,
    "kmeans7": 0.02,
    "kmeans8": 0.01,
}
TENSOR_FACTOR = 1.5
TENSOR_CAP = 0.95

# QLoRA NF4 levels (arXiv 2305.14314, appendix E), ascending; index = code.
NF4 = np.array(
    [
        -1.0,
        -0.6961928009986877,
        -0.5250730514526367,
        -0.39491748809814453,
        -0.28444138169288635,
        -0.18477343022823334,
        -0.09105003625154495,
        0.0,
        0.07958029955625534,
        0.16093020141124725,
        0.24611230194568634,
        0.33791524171829224,
        0.44070982933044434,
        0.5626170039176941,
        0.7229568362236023,
        1.0,
    ],
    dtype=np.float32,
)

ST_DTYPES = {
    "F64": (np.float64, 8),
    "F32": (np.float32, 4),
    "F16": (np.float16, 2),
    "BF16": (np.uint16, 2),  # converted by hand
    "I64": (np.int64, 8),
    "I32": (np.int32, 4),
    "I16": (np.int16, 2),
    "I8": (np.int8, 1),
    "U64": (np.uint64, 8),
    "U32": (np.uint32, 4),
    "U16": (np.uint16, 2),
    "U8": (np.uint8, 1),
    "BOOL": (np.bool_, 1),
}


class CheckError(Exception):
    pass


def require(cond, what):
    if not cond:
        raise CheckError(what)


def read_safetensors(path):
    """Returns (tensors: name -> (dtype_name, shape, raw bytes), metadata)."""
    with open(path, "rb") as f:
        blob = f.read()
    require(len(blob) >= 8, f"{path}: shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    require(8 + n <= len(blob), f"{path}: header runs past the end")
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, e in header.items():
        dt = e["dtype"]
        require(dt in ST_DTYPES, f"{path}: {name}: unexpected dtype {dt}")
        begin, end = e["data_offsets"]
        shape = tuple(int(d) for d in e["shape"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        require(
            end - begin == count * ST_DTYPES[dt][1],
            f"{path}: {name}: {end - begin} bytes for {dt} {list(shape)}",
        )
        require(base + end <= len(blob), f"{path}: {name}: data past the end")
        tensors[name] = (dt, shape, blob[base + begin : base + end])
    return tensors, meta


def as_array(dt, shape, raw):
    """The stored values with their own numpy dtype (bf16 as f32)."""
    npdt = ST_DTYPES[dt][0]
    a = np.frombuffer(raw, dtype=np.dtype(npdt).newbyteorder("<"))
    if dt == "BF16":
        a = (a.astype(np.uint32) << 16).view(np.float32)
    return a.reshape(shape) if shape else a.reshape(())


def as_f32(dt, shape, raw):
    require(dt in ("F32", "F16", "BF16"), f"not a float dtype: {dt}")
    return as_array(dt, shape, raw).astype(np.float32).reshape(-1)


def unpack_rows(packed, n, bits):
    """packed: uint8 [rows, row_bytes] -> uint8 codes [rows, n], LSB first."""
    rows, row_bytes = packed.shape
    require(row_bytes == (n * bits + 7) // 8, "packed row length")
    bitstream = np.unpackbits(packed, axis=1, bitorder="little")[:, : n * bits]
    bitstream = bitstream.reshape(rows, n, bits).astype(np.uint16)
    weights = (1 << np.arange(bits, dtype=np.uint16)).reshape(1, 1, bits)
    return (bitstream * weights).sum(axis=2).astype(np.uint8)


def minifloat_table(ebits, mbits, bias, ieee_specials, has_nan):
    """All 2^(1+ebits+mbits) code values, decoded from their bits."""
    nbits = 1 + ebits + mbits
    out = np.empty(1 << nbits, dtype=np.float64)
    emax = (1 << ebits) - 1
    for code in range(1 << nbits):
        sign = -1.0 if (code >> (nbits - 1)) & 1 else 1.0
        e = (code >> mbits) & emax
        m = code & ((1 << mbits) - 1)
        if ieee_specials and e == emax:
            v = math.inf if m == 0 else math.nan
        elif not ieee_specials and has_nan and e == emax and m == (1 << mbits) - 1:
            v = math.nan
        elif e == 0:
            v = m * 2.0 ** (1 - bias - mbits)
        else:
            v = ((1 << mbits) | m) * 2.0 ** (e - bias - mbits)
        out[code] = sign * v
    return out.astype(np.float32)  # every value is exact in f32


E4M3 = minifloat_table(4, 3, 7, ieee_specials=False, has_nan=True)
E5M2 = minifloat_table(5, 2, 15, ieee_specials=True, has_nan=True)
E2M1 = minifloat_table(2, 1, 1, ieee_specials=False, has_nan=False)

# Sanity of the hand-written tables against the OCP spec's landmarks.
assert E4M3[0x7E] == 448.0 and math.isnan(E4M3[0x7F]) and E4M3[0x01] == 2.0**-9
assert E5M2[0x7B] == 57344.0 and math.isinf(E5M2[0x7C]) and E5M2[0x01] == 2.0**-16
assert list(E2M1[:8]) == [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
assert E2M1[0x8 | 0x7] == -6.0


def scheme_bits(scheme):
    if scheme.startswith("int") or scheme.startswith("kmeans"):
        b = int(scheme[-1])
        require(2 <= b <= 8 and scheme[:-1] in ("int", "kmeans"), scheme)
        return b
    fixed = {
        "binary": 1,
        "ternary": 2,
        "nf4": 4,
        "fp8_e4m3": 8,
        "fp8_e5m2": 8,
        "fp4_e2m1": 4,
        "mxfp4": 4,
    }
    require(scheme in fixed, f"unknown scheme {scheme}")
    return fixed[scheme]


def level_table(scheme, bits):
    if scheme.startswith("int"):
        return np.arange(1 << bits, dtype=np.float32)
    if scheme == "binary":
        return np.array([-1.0, 1.0], dtype=np.float32)
    if scheme == "ternary":
        # codes 0, 1, 2 are -1, 0, +1; code 3 is never written (checked)
        return np.array([-1.0, 0.0, 1.0, 0.0], dtype=np.float32)
    if scheme == "nf4":
        return NF4
    if scheme == "fp8_e4m3":
        return E4M3
    if scheme == "fp8_e5m2":
        return E5M2
    if scheme in ("fp4_e2m1", "mxfp4"):
        return E2M1
    raise CheckError(f"no level table for {scheme}")


def decode_scales(dt, shape, raw, scale_type):
    if scale_type == "e8m0":
        require(dt == "U8", f"e8m0 scales stored as {dt}")
        c = as_array(dt, shape, raw).astype(np.int64)
        require(np.all(c != 255), "an E8M0 scale is NaN (code 255)")
        return np.ldexp(np.float64(1.0), c - 127).astype(np.float32)
    want = {"f16": "F16", "f32": "F32"}[scale_type]
    require(dt == want, f"scales stored as {dt}, scale_type {scale_type}")
    return as_array(dt, shape, raw).astype(np.float32)


def decode(name, desc, tensors):
    """Decodes quantized tensor `name` -> f32 array of desc['shape']."""
    scheme = desc["scheme"]
    bits = scheme_bits(scheme)
    shape = tuple(desc["shape"])
    # rows = shape[0], cols = the product of the rest (1-D: 1 x n; scalar 1 x 1)
    if len(shape) == 0:
        rows, cols = 1, 1
    elif len(shape) == 1:
        rows, cols = 1, shape[0]
    else:
        rows, cols = shape[0], int(np.prod(shape[1:], dtype=np.int64))
    gran = desc["granularity"]
    require(gran in ("tensor", "channel", "group"), f"granularity {gran}")
    group = int(desc["group_size"])
    if gran != "group":
        require(group == cols, f"{gran} granularity with group_size {group}")
    groups = (cols + group - 1) // group
    scale_rows = 1 if gran == "tensor" else rows
    kmeans = scheme.startswith("kmeans")
    asym = scheme.startswith("int") and not desc["symmetric"]
    if scheme == "mxfp4":
        require(desc["scale_type"] == "e8m0" and gran == "group" and group == 32,
                "mxfp4 layout")

    present = {s for s in SUFFIXES if name + s in tensors}
    expected = {".qcodes"} | ({".qcodebook"} if kmeans else {".qscale"})
    if asym:
        expected.add(".qzero")
    require(present == expected,
            f"components {sorted(present)}, expected {sorted(expected)}")

    dt, cshape, raw = tensors[name + ".qcodes"]
    require(dt == "U8", f"codes stored as {dt}")
    require(cshape == (rows, (cols * bits + 7) // 8),
            f"codes shape {list(cshape)} for {rows} x {cols} at {bits} bits")
    codes = unpack_rows(as_array(dt, cshape, raw), cols, bits)
    # The padding bits at the end of each row are zero.
    pad = (cols * bits) % 8
    if pad:
        last = as_array(dt, cshape, raw)[:, -1]
        require(np.all(last >> pad == 0), "non-zero padding bits in codes")

    if kmeans:
        dt, bshape, raw = tensors[name + ".qcodebook"]
        require(bshape == (scale_rows, 1 << bits),
                f"codebook shape {list(bshape)}")
        book = decode_scales(dt, bshape, raw, desc["scale_type"])
        require(np.all(np.isfinite(book)), "non-finite codebook level")
        require(np.all(np.diff(book, axis=1) >= 0), "codebook not ascending")
        if scale_rows == 1:
            out = book[0][codes]
        else:
            out = np.take_along_axis(book, codes.astype(np.int64), axis=1)
        return out.astype(np.float32).reshape(shape)

    dt, sshape, raw = tensors[name + ".qscale"]
    require(sshape == (scale_rows, groups), f"scale shape {list(sshape)}")
    scales = decode_scales(dt, sshape, raw, desc["scale_type"])
    require(np.all(np.isfinite(scales)), "non-finite scale")
    if asym:
        dt, zshape, raw = tensors[name + ".qzero"]
        if desc.get("zero_type", "code") == "f16":
            require(dt == "F16", f"f16 zeros stored as {dt}")
            require(zshape == (scale_rows, groups), "zeros shape")
            zeros = as_array(dt, zshape, raw).astype(np.float32)
            require(np.all(np.isfinite(zeros)), "non-finite zero point")
        else:
            require(dt == "U8", f"zeros stored as {dt}")
            zeros = unpack_rows(as_array(dt, zshape, raw), groups, bits)
            require(zeros.shape == (scale_rows, groups), "zeros shape")
            zeros = zeros.astype(np.float32)
    elif scheme.startswith("int"):
        zeros = np.full((scale_rows, groups), float(1 << (bits - 1)),
                        dtype=np.float32)
    else:
        zeros = np.zeros((scale_rows, groups), dtype=np.float32)
    if scheme == "ternary":
        require(np.all(codes != 3), "ternary code 3 used")

    levels = level_table(scheme, bits)[codes]  # [rows, cols] f32
    group_of_col = np.arange(cols) // group
    s = scales[:, group_of_col]  # [scale_rows, cols]
    z = zeros[:, group_of_col]
    # Same f32 operations as the format's definition: s * (level - zero).
    with np.errstate(over="ignore", invalid="ignore"):
        out = (s * (levels - z)).astype(np.float32)
    return out.reshape(shape)


def main(argv):
    if len(argv) != 4:
        print(__doc__)
        return 2
    qpath, opath, cpath = argv[1:]
    qt, qmeta = read_safetensors(qpath)
    ot, _ = read_safetensors(opath)
    ct, cmeta = read_safetensors(cpath)

    descs = {k[len(META_PREFIX):]: json.loads(v) for k, v in qmeta.items()
             if k.startswith(META_PREFIX)}
    require(descs, f"{qpath}: no quantized tensors")
    components = {n + s for n in descs for s in SUFFIXES if n + s in qt}
    logical = sorted(set(qt) - components) + sorted(descs)
    require(sorted(logical) == sorted(ct),
            f"tensors of {cpath} differ from the logical tensors of {qpath}")
    require(sorted(ot) == sorted(ct), f"tensors of {opath} and {cpath} differ")
    require(not any(k.startswith(META_PREFIX) for k in cmeta),
            f"{cpath} still has lowbit.q.* metadata")

    failures = 0
    for name in sorted(descs):
        desc = descs[name]
        try:
            require(name not in qt, "stored both plain and quantized")
            y = decode(name, desc, qt)
            cdt, cshape, craw = ct[name]
            require(cdt == "F32", f"converted dtype {cdt}")
            require(cshape == y.shape, f"shape {list(y.shape)} vs {list(cshape)}")
            ref = as_array(cdt, cshape, craw)
            same = y.reshape(-1).view(np.uint32) == ref.reshape(-1).view(np.uint32)
            if not np.all(same):
                i = int(np.argmin(same))
                raise CheckError(
                    f"{int((~same).sum())} values differ from lowbit convert, "
                    f"first at {i}: {y.reshape(-1)[i]!r} vs {ref.reshape(-1)[i]!r}")
            odt, oshape, oraw = ot[name]
            require(oshape == tuple(desc["shape"]), "shape differs from original")
            require(odt.lower() == desc["dtype"],
                    f"description dtype {desc['dtype']}, original {odt}")
            x = as_f32(odt, oshape, oraw).astype(np.float64)
            err = y.reshape(-1).astype(np.float64) - x
            den = float(np.sum(x * x))
            rel = math.sqrt(float(np.sum(err * err)) / den) if den else 0.0
            bound = REL_RMSE_BOUND[desc["scheme"]]
            if desc["granularity"] == "tensor":
                bound = min(bound * TENSOR_FACTOR, TENSOR_CAP)
            require(rel <= bound, f"rel_rmse {rel:.5f} above {bound}")
            print(f"ok   {name:32s} {desc['scheme']:9s} {desc['granularity']}:"
                  f"{desc['group_size']} sym={desc['symmetric']} "
                  f"scale={desc['scale_type']} rel_rmse={rel:.5f}")
        except CheckError as e:
            failures += 1
            print(f"FAIL {name}: {e}")

    # Plain tensors: floats cast to f32 exactly, others copied byte for byte.
    for name in sorted(set(qt) - components):
        dt, shape, raw = qt[name]
        cdt, cshape, craw = ct[name]
        odt, oshape, oraw = ot[name]
        ok = shape == cshape == oshape and raw == oraw
        if dt in ("F32", "F16", "BF16"):
            ok = ok and cdt == "F32" and np.array_equal(
                as_f32(dt, shape, raw).view(np.uint32),
                as_array(cdt, cshape, craw).reshape(-1).view(np.uint32))
        else:
            ok = ok and cdt == dt and craw == raw
        if not ok:
            failures += 1
            print(f"FAIL {name}: plain tensor changed")

    print(f"{qpath}: {len(descs)} quantized tensors decoded, "
          f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except CheckError as e:
        print(f"FAIL: {e}")
        sys.exit(1)
