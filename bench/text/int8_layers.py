"""Layer by layer: a bundle's fp32 graph against int8 variants of its text encoder, in the
Python onnxruntime wheel, on the bundle's parity fixtures (docs/benchmarks.md, "int8 text
encoder: the accuracy bug"). The fp32 graph equals LibTorch within 1e-4, so it stands in for
it. Variants: the encoder's 36 Linear layers as DynamicQuantizeLinear -> MatMulInteger ->
Cast -> Mul (tenor's pattern) with weights per tensor (the first int8 export, 3a88b69), per
output channel (`tenor export --quantize int8`), each also with 7-bit weights (reduce_range);
and onnxruntime.quantization.quantize_dynamic on the same graph, per tensor and per channel.
Also checks MatMulInteger against exact integer arithmetic on the real activations (the
kernel's saturation). Prints per variant: max |p - p_fp32|, arg-max decisions that differ,
and after each block max |delta| / min cosine of the hidden states of real tokens.

    python int8_layers.py BUNDLE    (onnxruntime==1.20.1, onnx; bench/int8_layers.sh)
"""
import copy
import json
import os
import re
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

LINEAR = re.compile(r"^bert\.encoder\.layer\.\d+\..*\.weight$")


def load_cases(bundle):
    cases = json.load(open(os.path.join(bundle, "parity", "cases.json")))["cases"]
    out = []
    for c in cases:
        feeds = {k: np.fromfile(os.path.join(bundle, "parity", v["file"]), dtype=v["dtype"]).reshape(v["dims"])
                 for k, v in c["inputs"].items()}
        out.append(feeds)
    return out


def linears(model):
    """(MatMul node, weight initializer name) of every encoder Linear: MatMul(x, Transpose(W))."""
    producer = {o: n for n in model.graph.node for o in n.output}
    for n in model.graph.node:
        t = producer.get(n.input[1]) if n.op_type == "MatMul" else None
        if t is not None and t.op_type == "Transpose" and LINEAR.match(t.input[0]):
            yield n, t.input[0]


def quantised_weight(w, per_channel, qmax):
    scale = (np.abs(w).max(axis=1) if per_channel else np.abs(w).max()) / qmax
    scale = np.maximum(scale, 1e-12).astype(np.float32)
    q = np.clip(np.round(w / (scale[:, None] if per_channel else scale)), -qmax, qmax)
    return q.astype(np.int8).T.copy(), scale


def tenor_int8(model, per_channel, bits=8):
    m = copy.deepcopy(model)
    weights = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    replace = {}
    for n, wname in linears(m):
        base = wname[: -len(".weight")]
        q, scale = quantised_weight(weights[wname], per_channel, 2 ** (bits - 1) - 1)
        m.graph.initializer.extend([numpy_helper.from_array(q, base + ".wq"),
                                    numpy_helper.from_array(scale, base + ".wscale"),
                                    numpy_helper.from_array(np.array(0, np.int8), base + ".wzero")])
        replace[n.output[0]] = [
            helper.make_node("DynamicQuantizeLinear", [n.input[0]], [base + ".xq", base + ".xs", base + ".xz"]),
            helper.make_node("MatMulInteger", [base + ".xq", base + ".wq", base + ".xz", base + ".wzero"], [base + ".mm"]),
            helper.make_node("Cast", [base + ".mm"], [base + ".mmf"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [base + ".xs", base + ".wscale"], [base + ".s"]),
            helper.make_node("Mul", [base + ".mmf", base + ".s"], [n.output[0]])]
    nodes = []
    for n in m.graph.node:
        nodes += replace.get(n.output[0], [n])
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    return m


def ort_quantize_dynamic(model, per_channel):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    m = copy.deepcopy(model)  # fold Transpose(W) so that quantize_dynamic sees MatMul(x, W)
    weights = {i.name: i for i in m.graph.initializer}
    kept = []
    for n in m.graph.node:
        if n.op_type == "Transpose" and n.input[0] in weights and len(weights[n.input[0]].dims) == 2:
            m.graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(weights[n.input[0]]).T.copy(), n.output[0]))
        else:
            kept.append(n)
    del m.graph.node[:]
    m.graph.node.extend(kept)
    names = [n.name for n, _ in linears(model)]
    with tempfile.TemporaryDirectory() as d:
        onnx.save(m, os.path.join(d, "in.onnx"))
        quantize_dynamic(os.path.join(d, "in.onnx"), os.path.join(d, "out.onnx"), per_channel=per_channel,
                         op_types_to_quantize=["MatMul"], nodes_to_quantize=names, weight_type=QuantType.QInt8)
        return onnx.load(os.path.join(d, "out.onnx"))


def run(model, cases, extra):
    m = copy.deepcopy(model)
    m.graph.output.extend(helper.make_tensor_value_info(x, TensorProto.FLOAT, None) for x in extra)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return [dict(zip(names, s.run(None, {i.name: f[i.name] for i in s.get_inputs()}))) for f in cases]


def report(tag, ref, got, cases, blocks, probs):
    per_block = []
    for b in blocks:
        d, cos = [], []
        for f, a, g in zip(cases, ref, got):
            mask = f["text_mask"].astype(bool)
            if a[b].shape[1] != mask.shape[1]:
                continue
            x, y = a[b][mask], g[b][mask]
            d.append(np.abs(x - y).max())
            cos.append((np.sum(x * y, 1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)).min())
        per_block.append(f"{max(d):.3f}/{min(cos):.4f}")
    dp = max(np.abs(a[p] - g[p]).max() for a, g in zip(ref, got) for p in probs)
    flips = sum(int((a[p].argmax(1) != g[p].argmax(1)).sum()) for a, g in zip(ref, got) for p in probs)
    n = sum(a[p].shape[0] for a in ref for p in probs)
    print(f"| {tag} | {dp:.3f} | {flips}/{n} | {' '.join(per_block)} |", flush=True)


def kernel_check(model, cases):
    """MatMulInteger on the real quantised inputs of every Linear vs exact integer arithmetic."""
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    pairs = list(linears(model))
    acts = run(model, cases[:1], sorted({n.input[0] for n, _ in pairs}))[0]
    worst = 0
    for n, wname in pairs:
        x = acts[n.input[0]].reshape(-1, acts[n.input[0]].shape[-1])
        lo, hi = min(x.min(), 0), max(x.max(), 0)
        scale = np.float32((hi - lo) / 255)
        zero = int(np.clip(np.round(-lo / scale), 0, 255))
        xq = np.clip(np.round(x / scale) + zero, 0, 255).astype(np.uint8)
        q, _ = quantised_weight(weights[wname], True, 127)
        g = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b", "az"], ["y"])], "k",
                              [helper.make_tensor_value_info("a", TensorProto.UINT8, list(xq.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, None)],
                              [numpy_helper.from_array(q, "b"), numpy_helper.from_array(np.array(zero, np.uint8), "az")])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        y = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"a": xq})[0]
        exact = (xq.astype(np.int64) - zero) @ q.astype(np.int64)
        worst = max(worst, int(np.abs(y.astype(np.int64) - exact).max()))
    print(f"\nMatMulInteger vs exact integer arithmetic, {len(pairs)} Linear layers: max |difference| {worst}")


def main():
    bundle = sys.argv[1]
    base = onnx.load(os.path.join(bundle, "model.onnx"))
    cases = load_cases(bundle)
    blocks = [n.output[0] for n in base.graph.node if n.op_type == "LayerNormalization"
              and re.match(r"bert\.encoder\.layer\.\d+\.output\.LayerNorm", n.output[0])]
    probs = [o.name for o in base.graph.output]
    ref = run(base, cases, blocks)
    print(f"{len(cases)} fixture cases of {bundle}; per block: max |delta| / min cosine of the hidden states\n")
    print("| variant | max abs delta p | arg max differs | after each block |")
    print("|---|---|---|---|")
    variants = [("int8 per tensor (3a88b69)", lambda: tenor_int8(base, False)),
                ("int8 per tensor, 7-bit", lambda: tenor_int8(base, False, 7)),
                ("int8 per channel (--quantize int8)", lambda: tenor_int8(base, True)),
                ("int8 per channel, 7-bit", lambda: tenor_int8(base, True, 7)),
                ("quantize_dynamic per tensor", lambda: ort_quantize_dynamic(base, False)),
                ("quantize_dynamic per channel", lambda: ort_quantize_dynamic(base, True))]
    for tag, make in variants:
        report(tag, ref, run(make(), cases, blocks), cases, blocks, probs)
    kernel_check(base, cases)


if __name__ == "__main__":
    main()
