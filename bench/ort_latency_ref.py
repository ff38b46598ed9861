"""The reference for bench_ort_latency: the same segment in the Python onnxruntime wheel (CPU,
one intra-op thread, sequential execution, all graph optimisations), timing sess.run (wall and
process CPU time). Checks that its outputs equal the runner's (the case's expected tensors) within 1e-5.

    python ort_latency_ref.py MODEL.onnx CASES_DIR [--repeat N] [--warmup W]
"""
import argparse
import json
import os
import time

import numpy as np
import onnxruntime as ort

TYPES = {"float32": np.float32, "int64": np.int64, "int32": np.int32}


def tensor(directory, spec):
    data = np.fromfile(os.path.join(directory, spec["file"]), dtype=TYPES[spec["dtype"]])
    return data.reshape(spec["dims"])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("cases")
    p.add_argument("--repeat", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=50)
    a = p.parse_args()
    spec = json.load(open(os.path.join(a.cases, "cases.json")))["cases"][0]
    feeds = {k: tensor(a.cases, v) for k, v in spec["inputs"].items()}
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    for _ in range(a.warmup):
        out = sess.run(None, feeds)
    ms, cpu = [], []
    for _ in range(a.repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = sess.run(None, feeds)
        ms.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    names = [o.name for o in sess.get_outputs()]
    delta = max(float(np.abs(out[names.index(k)] - tensor(a.cases, v)).max())
                for k, v in spec.get("expected", {}).items())
    for what, v in (("wall", ms), ("CPU time", cpu)):
        q = np.percentile(v, [50, 95, 99])
        print(json.dumps({"bench": "ort_latency",
                          "measure": f"python onnxruntime {ort.__version__} sess.run, {what}",
                          "runs": len(v), "p50_ms": q[0], "p95_ms": q[1], "p99_ms": q[2],
                          "mean_ms": float(np.mean(v)), "max_abs_delta_vs_runner": delta}))


if __name__ == "__main__":
    main()
