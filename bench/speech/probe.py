"""Would a pretrained speech encoder carry RAVDESS anger to other recording chains? A linear
probe on Whisper tiny.en's pooled encoder states (tools/text-encoders/whisper_ct2.py), scored on
the degraded copies that bench/robustness_cv.sh (and, with --test, bench/robustness.sh) made,
alone and averaged with tenor runs' calibrated probabilities. See bench/speech_probe.sh."""
import argparse
import json
import os
import sys
import tempfile
import time
import wave
import zipfile

import numpy as np
import soxr
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler
from transformers import WhisperFeatureExtractor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools",
                                "text-encoders"))
from whisper_ct2 import WhisperEncoder  # noqa: E402

CONDITIONS = ["clean", "telephone-mulaw", "agc", "gain-20dB", "noise-10dB", "noise-0dB",
              "reverb-0.5s"]


def fail(message):
    sys.exit(f"speech_probe: {message}")


def calls(dataset):
    path = os.path.join(dataset, "calls.jsonl")
    if not os.path.isfile(path):
        fail(f"{path} is missing; run bench/robustness_cv.sh (or robustness.sh) first")
    for line in open(path):
        if line.strip():
            yield json.loads(line)


class Embeddings:
    """Pooled encoder states per wav file, kept in CACHE between calls (temp file, rename)."""

    def __init__(self, encoder, cache, pad, threads):
        self.encoder, self.cache, self.pad = encoder, cache, pad
        self.features = WhisperFeatureExtractor(feature_size=80)
        self.vectors = {}
        if os.path.exists(cache):
            try:
                self.vectors = dict(np.load(cache))
            except (OSError, ValueError, zipfile.BadZipFile) as e:
                print(f"speech_probe: {cache} is unreadable ({e}); embedding again",
                      file=sys.stderr)
        torch.set_num_threads(threads)

    @staticmethod
    def key(path):
        """The file's real path, size and time of change: a copy made again is embedded again."""
        real = os.path.realpath(path)
        stat = os.stat(real)
        return f"{real}|{stat.st_size}|{stat.st_mtime_ns}"

    def get(self, paths):
        keys = [self.key(p) for p in paths]
        todo = sorted({k for k in keys if k not in self.vectors})
        start = time.time()
        for i in range(0, len(todo), 8):
            batch = todo[i:i + 8]
            audio = [self.read(k.split("|")[0]) for k in batch]
            # padded with silence to PAD seconds (Whisper's 30 s as trained), 0: the clip alone
            longest = max(len(x) for x in audio)
            if longest > 30 * 16000:
                fail(f"{batch[0].split('|')[0]} or a clip beside it is over Whisper's 30 s")
            length = max(longest, int(self.pad * 16000))
            mel = self.features(audio, sampling_rate=16000, return_tensors="np",
                                padding="max_length", max_length=length)
            with torch.no_grad():
                states = self.encoder(torch.from_numpy(mel.input_features))
            for j, key in enumerate(batch):
                frames = (len(audio[j]) // 160 + 1) // 2  # the clip's frames, not the padding
                self.vectors[key] = states[j, :frames].mean(0).numpy()
        if todo:
            print(f"embedded {len(todo)} clips in {time.time() - start:.0f} s "
                  f"({(time.time() - start) / len(todo) * 1000:.0f} ms a clip)", file=sys.stderr)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.cache), suffix=".npz")
            with os.fdopen(fd, "wb") as out:
                np.savez(out, **self.vectors)
            os.replace(tmp, self.cache)
        return np.stack([self.vectors[k] for k in keys])

    @staticmethod
    def read(path):
        with wave.open(path) as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1:
                fail(f"{path}: this probe reads 16-bit mono wav only")
            rate = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
        return soxr.resample(x, rate, 16000)


def clips(dataset, split=None):
    """(call_id, wav path, label) of the one-segment calls of DATASET (of SPLIT)."""
    out = []
    for call in calls(dataset):
        if split and call.get("split") != split:
            continue
        if len(call["segments"]) != 1:
            fail(f"{dataset}: call {call['call_id']} has {len(call['segments'])} segments; "
                 "the probe pools whole clips of one segment (RAVDESS)")
        label = call["segments"][0]["labels"].get(TASK)
        if label is not None:
            out.append((call["call_id"], os.path.join(dataset, call["audio"]), int(label)))
    return out


def tenor_probability(evaluation):
    """call_id -> (calibrated probability of the positive class, the class tenor decided)."""
    path = os.path.join(evaluation, "predictions.jsonl")
    if not os.path.isfile(path):
        fail(f"{path} is missing: the run was not scored there")
    out = {}
    for line in open(path):
        row = json.loads(line)
        task = row["tasks"].get(TASK)
        if task is not None:
            out[row["call_id"]] = (task["calibrated"][1], task["decision"])
    return out


def macro_f1(y, decided):
    return f1_score(y, decided, average="macro", labels=[0, 1])


def bootstrap(y, decided, rounds=1000):
    rng = np.random.default_rng(0)
    y, decided = np.asarray(y), np.asarray(decided)
    values = [macro_f1(y[i], decided[i]) for i in
              (rng.integers(0, len(y), len(y)) for _ in range(rounds))]
    return np.percentile(values, [2.5, 97.5])


def probe(embed, train, C):
    x = embed.get([p for _, p, _ in train])
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=3000)
    model.fit(scaler.transform(x), [label for _, _, label in train])
    def predict(rows):
        x = scaler.transform(embed.get([p for _, p, _ in rows]))
        return model.predict_proba(x)[:, 1]
    return predict


def score(rows, p_probe, evaluation):
    """The labels, and the decisions of the probe, of tenor (its own) and of the average."""
    y = [label for _, _, label in rows]
    out = {"probe": p_probe > 0.5}
    if evaluation:
        tenor = tenor_probability(evaluation)
        missing = [c for c, _, _ in rows if c not in tenor]
        if missing:
            fail(f"{evaluation} has no prediction for call {missing[0]}")
        positive = CLASSES[1]
        out["tenor"] = np.array([tenor[c][1] == positive for c, _, _ in rows])
        p_tenor = np.array([tenor[c][0] for c, _, _ in rows])
        out["averaged"] = (p_tenor + p_probe) / 2 > 0.5
    return y, out


def add(results, key, condition, value):
    results.setdefault(key, {}).setdefault(condition, []).append(value)


def table(title, results, names):
    """results[(name, what)][condition] = list over folds or seeds."""
    print(f"\n{title}\n")
    print("| | " + " | ".join(CONDITIONS) + " | mean worst (no 0 dB) | worst per fold or seed |")
    print("|---|" + "---|" * (len(CONDITIONS) + 2))
    for key in names:
        per = results[key]
        runs = len(per["clean"])
        worst = [min(per[c][i] for c in CONDITIONS if c != "noise-0dB") for i in range(runs)]
        print(f"| {' '.join(k for k in key if k)} | "
              + " | ".join(f"{np.mean(per[c]):.3f}" for c in CONDITIONS)
              + f" | {np.mean(worst):.3f} | " + " / ".join(f"{w:.3f}" for w in worst) + " |")


def check_inputs(a):
    """Everything the tables read is there, before minutes of embedding: a sentence if not."""
    folds = sorted(d for d in os.listdir(os.path.join(a.cv_work, "folds")) if d.startswith("fold"))
    for fold in folds:
        for c in CONDITIONS:
            copy = os.path.join(a.cv_work, f"rob-{fold}", "dev", c, "calls.jsonl")
            if not os.path.isfile(copy):
                fail(f"{copy} is missing; run bench/robustness_cv.sh {a.cv_work} first")
            for name in a.names:
                scored = os.path.join(a.cv_work, f"rob-{fold}", f"eval-dev-{name}-{fold}-{c}")
                if not os.path.isfile(os.path.join(scored, "predictions.jsonl")):
                    fail(f"{scored} is missing: config {name} was not scored on {fold}; "
                         f"run bench/robustness_cv.sh {a.cv_work} {name} \"SETS\" first")
    if a.runs and not a.test_work:
        fail("--runs names runs scored on test copies: give --test-work TEST_WORK too")
    for c in CONDITIONS if a.test_work else []:
        copy = os.path.join(a.test_work, "test", c, "calls.jsonl")
        if not os.path.isfile(copy):
            fail(f"{copy} is missing; run SPLIT=test bench/robustness.sh {a.test_work} RUN first")
        for run in a.runs:
            name = os.path.basename(run.rstrip("/"))
            scored = os.path.join(a.test_work, f"eval-test-{name}-{c}", "predictions.jsonl")
            if not os.path.isfile(scored):
                fail(f"{scored} is missing; run SPLIT=test bench/robustness.sh "
                     f"{a.test_work} {run} first")


def main():
    global TASK, CLASSES
    ap = argparse.ArgumentParser()
    ap.add_argument("model_bin")
    ap.add_argument("cv_work")
    ap.add_argument("names", nargs="*")
    ap.add_argument("--test-work")
    ap.add_argument("--runs", nargs="*", default=[])
    ap.add_argument("--pad", type=float, default=30)
    ap.add_argument("--C", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--task", default="escalation")
    ap.add_argument("--classes", default="calm,escalated")
    a = ap.parse_args()
    TASK, CLASSES = a.task, a.classes.split(",")
    check_inputs(a)
    with open(a.model_bin, "rb") as f:
        encoder = WhisperEncoder(f.read())
    difference = encoder.check()
    print(f"encoder against transformers' WhisperEncoder: largest difference {difference:.2e}")
    if difference > 1e-4:
        fail("the encoder does not reproduce transformers' WhisperEncoder within 1e-4")
    cache_dir = os.path.join(a.cv_work, "speech-probe")
    os.makedirs(cache_dir, exist_ok=True)
    embed = Embeddings(encoder, os.path.join(cache_dir, f"embeddings-pad{a.pad:g}s.npz"),
                       a.pad, a.threads)
    folds = sorted(int(d[4:]) for d in os.listdir(os.path.join(a.cv_work, "folds"))
                   if d.startswith("fold"))
    fold_dev = {f: clips(os.path.join(a.cv_work, "folds", f"fold{f}"), "dev") for f in folds}
    copies = {(f, c): clips(os.path.join(a.cv_work, f"rob-fold{f}", "dev", c), "dev")
              for f in folds for c in CONDITIONS}

    def degraded_training(fold_list, scored):
        """Copies of the training speakers under every condition but clean and the scored one."""
        return [r for f in fold_list for c in CONDITIONS if c not in ("clean", scored)
                for r in copies[(f, c)]]

    cv = {}
    for f in folds:
        train_clean = clips(os.path.join(a.cv_work, "folds", f"fold{f}"), "train")
        for c in CONDITIONS:
            others = [g for g in folds if g != f]
            predict = probe(embed, train_clean + degraded_training(others, c), a.C)
            rows = copies[(f, c)]
            p = predict(rows)
            y, decided = score(rows, p, None)
            add(cv, (None, "probe"), c, macro_f1(y, decided["probe"]))
            for name in a.names:
                y, decided = score(rows, p, os.path.join(a.cv_work, f"rob-fold{f}",
                                                         f"eval-dev-{name}-fold{f}-{c}"))
                for what in ("tenor", "averaged"):
                    add(cv, (name, what), c, macro_f1(y, decided[what]))
    keys = [(None, "probe")] + [(n, w) for n in a.names for w in ("tenor", "averaged")]
    table(f"Speaker folds of {a.cv_work} (macro-F1, mean over {len(folds)} folds)", cv, keys)
    if not a.test_work:
        return
    non_test = [r for f in folds for r in fold_dev[f]]  # every non-test speaker, clean
    test = {}
    for c in CONDITIONS:
        predict = probe(embed, non_test + degraded_training(folds, c), a.C)
        rows = clips(os.path.join(a.test_work, "test", c), "test")
        p = predict(rows)
        y, decided = score(rows, p, None)
        low, high = bootstrap(y, decided["probe"])
        print(f"test {c}: probe {macro_f1(y, decided['probe']):.3f} [{low:.3f}, {high:.3f}]")
        add(test, (None, "probe"), c, macro_f1(y, decided["probe"]))
        for run in a.runs:
            name = os.path.basename(run.rstrip("/"))
            y, decided = score(rows, p, os.path.join(a.test_work, f"eval-test-{name}-{c}"))
            for what in ("tenor", "averaged"):
                add(test, ("runs", what), c, macro_f1(y, decided[what]))
                add(test, (name, what), c, macro_f1(y, decided[what]))
    keys = [(None, "probe")] + [(os.path.basename(r.rstrip("/")), w) for r in a.runs
                                for w in ("tenor", "averaged")]
    if a.runs:
        keys += [("runs", "tenor"), ("runs", "averaged")]
    table(f"Test copies of {a.test_work} (macro-F1; `runs`: mean over the runs given)", test, keys)


if __name__ == "__main__":
    main()
