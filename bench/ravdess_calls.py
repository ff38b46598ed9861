#!/usr/bin/env python3
"""RAVDESS as calls of several turns: each actor's clips of one split, shuffled with a seed,
joined end to end into calls of N clips (one audio file per call, one segment per clip, the
clip's label, text and speaker role kept), so that what a contact-centre call gives and
RAVDESS's one-clip calls do not can be measured: several turns of one speaker over one
recording chain (`speaker_normalization: call`, and degradations applied to a whole call).
Splits and speakers stay those of the source, so the split stays speaker-disjoint.
Reads the source dataset only; writes OUT whole or not at all (OUT.tmp, then a rename).
  python3 bench/ravdess_calls.py SRC OUT [--clips-per-call 5] [--seed 1]
A call's id is `cK-AA` (K its number within the actor over all splits, AA the actor), so the
actor is the last field, as in RAVDESS's own ids (bench/robustness_rules.py reads it there).
`tenor data validate` reports the calls as duplicates across splits (every actor says the same
two sentences, and five turns pass the text comparison's 10-word floor): pass it
`--allow-duplicates`; `data build`, `train` and `eval --dataset` read the set as it is.
Tested by tests/bench/ravdess_calls_test.py (ctest bench_ravdess_calls).
"""
import argparse
import json
import os
import random
import shutil
import sys
import wave


def fail(message):
    sys.exit(f"bench/ravdess_calls.py: {message}")


def read_calls(src):
    path = os.path.join(src, "calls.jsonl")
    calls = []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    call = json.loads(line)
                except json.JSONDecodeError as e:
                    fail(f"{path}:{number}: not JSON ({e}); run `tenor data validate {src}`")
                if len(call.get("segments", [])) != 1 or "speaker_id" not in call.get("meta", {}):
                    fail(f"{path}:{number}: call {call.get('call_id')} is not a one-clip call "
                         "with meta.speaker_id; this script joins RAVDESS-style clips only")
                calls.append(call)
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}; pass the dataset directory as SRC")
    return calls


def read_wav(path):
    try:
        with wave.open(path, "rb") as w:
            return w.getparams(), w.readframes(w.getnframes())
    except (OSError, wave.Error, EOFError) as e:
        fail(f"cannot read {path}: {e}; it must be PCM WAV (RAVDESS's own files are)")


def compose(src, calls, out, per_call, seed):
    groups = {}
    for call in calls:
        key = (call.get("split", ""), call["meta"]["speaker_id"])
        groups.setdefault(key, []).append(call)
    rng = random.Random(seed)
    rows = []
    numbers = {}  # actor -> calls so far: an actor in two splits gets no id (or file) twice
    os.makedirs(os.path.join(out, "audio"))
    for (split, speaker), clips in sorted(groups.items()):
        clips.sort(key=lambda c: c["call_id"])
        rng.shuffle(clips)
        actor = "".join(ch for ch in speaker if ch.isdigit()) or speaker
        for k in range(0, len(clips), per_call):
            numbers[actor] = numbers.get(actor, 0) + 1
            call_id = f"c{numbers[actor]}-{actor}"
            params, frames, segments = None, bytearray(), []
            for clip in clips[k:k + per_call]:
                path = os.path.join(src, clip["audio"])
                p, data = read_wav(path)
                if params is None:
                    params = p
                elif (p.nchannels, p.sampwidth, p.framerate) != \
                        (params.nchannels, params.sampwidth, params.framerate):
                    fail(f"{path}: {p.nchannels} channels, {p.framerate} Hz, "
                         f"{8 * p.sampwidth}-bit differs from the first clip of {call_id}; "
                         "clips of one actor must share a format")
                offset = len(frames) // (p.nchannels * p.sampwidth) / p.framerate
                segment = dict(clip["segments"][0])
                segment["start"] = round(offset + segment["start"], 6)
                segment["end"] = round(offset + segment["end"], 6)
                segments.append(segment)
                frames += data
            audio = f"audio/{call_id}.wav"
            with wave.open(os.path.join(out, audio), "wb") as w:
                w.setnchannels(params.nchannels)
                w.setsampwidth(params.sampwidth)
                w.setframerate(params.framerate)
                w.writeframes(bytes(frames))
            row = {"call_id": call_id, "audio": audio, "split": split,
                   "meta": {"speaker_id": speaker,
                            "clips": " ".join(c["call_id"] for c in clips[k:k + per_call])},
                   "segments": segments}
            if not split:
                del row["split"]
            rows.append(row)
    with open(os.path.join(out, "calls.jsonl"), "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("src")
    parser.add_argument("out")
    parser.add_argument("--clips-per-call", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.clips_per_call < 1:
        fail(f"--clips-per-call {args.clips_per_call}: give 1 or more clips per call")
    if os.path.exists(args.out):
        fail(f"{args.out} exists; remove it or name another OUT (nothing was written)")
    calls = read_calls(args.src)
    tmp = args.out.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        rows = compose(args.src, calls, tmp, args.clips_per_call, args.seed)
        with open(os.path.join(args.src, "dataset.yaml"), encoding="utf-8") as f:
            header = f.read()
        with open(os.path.join(tmp, "dataset.yaml"), "w", encoding="utf-8") as f:
            f.write(f"# {len(calls)} clips of {args.src} joined into calls of "
                    f"{args.clips_per_call} by bench/ravdess_calls.py (seed {args.seed})\n")
            f.write(header)
        os.rename(tmp, args.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"{args.out}: {len(rows)} calls from {len(calls)} clips")


if __name__ == "__main__":
    main()
