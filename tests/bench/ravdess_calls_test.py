#!/usr/bin/env python3
"""bench/ravdess_calls.py on a generated two-actor set: the calls it composes hold each clip's
samples, times, label and text in order, splits and speakers as the source, the same seed
gives the same calls, `tenor data validate` accepts the result, the source is never touched,
and bad input (missing SRC, existing OUT, a call of two segments, clips of another format,
--clips-per-call 0) is refused with a sentence and leaves nothing behind.
  python3 tests/bench/ravdess_calls_test.py TENOR_BINARY
"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "bench", "ravdess_calls.py")
RATE = 16000
WORDS = ["red", "green", "blue", "yellow", "purple", "orange", "silver", "golden", "brown",
         "white", "black", "pink"]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


def write_wav(path, samples, rate=RATE, width=2):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        fmt = "<%dh" % len(samples) if width == 2 else "<%db" % len(samples)
        w.writeframes(struct.pack(fmt, *samples))


def make_source(src):
    """Two actors; actor 1: four train clips and two test clips, actor 2: three train clips.
    Clip k is 0.25 s of the constant sample 100 * (k + 1), so its samples name it."""
    os.makedirs(src)
    with open(os.path.join(src, "dataset.yaml"), "w") as f:
        f.write("name: tiny-ravdess\nversion: 1\nlabels:\n  escalation:\n    type: binary\n"
                "    classes: [calm, escalated]\n    speaker: customer\n")
    rows, k = [], 0
    for actor, split, count in (("01", "train", 4), ("01", "test", 2), ("02", "train", 3)):
        for _ in range(count):
            call_id = f"03-01-{k:02d}-{actor}"
            audio = f"audio/Actor_{actor}/{call_id}.wav"
            write_wav(os.path.join(src, audio), [100 * (k + 1)] * (RATE // 4))
            rows.append({"call_id": call_id, "audio": audio, "split": split,
                         "meta": {"speaker_id": f"actor{actor}"},
                         "segments": [{"start": 0.0, "end": 0.25, "speaker": "customer",
                                       "labels": {"escalation": k % 2},
                                       "text": f"the {WORDS[k]} door is {WORDS[-1 - k]} now"}]})
            k += 1
    with open(os.path.join(src, "calls.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return {r["call_id"]: r for r in rows}


def digest(tree):
    h = hashlib.sha256()
    for base, dirs, files in sorted(os.walk(tree)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(base, name)
            h.update(path[len(tree):].encode())
            with open(path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def run(*args):
    p = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def read_calls(out):
    with open(os.path.join(out, "calls.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    tenor = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "tenor")
    work = tempfile.mkdtemp(prefix="ravdess-calls-")
    src, out = os.path.join(work, "src"), os.path.join(work, "out")
    clips = make_source(src)
    before = digest(src)

    rc, text = run(src, out, "--clips-per-call", "2", "--seed", "3")
    check(rc == 0, f"compose: rc {rc}: {text}")
    check("5 calls from 9 clips" in text, f"summary line: {text}")
    calls = read_calls(out)
    seen = []
    for call in calls:
        clip_ids = call["meta"]["clips"].split()
        seen += clip_ids
        first = clips[clip_ids[0]]
        check(call["split"] == first["split"], f"{call['call_id']}: split {call['split']}")
        check(call["meta"]["speaker_id"] == first["meta"]["speaker_id"],
              f"{call['call_id']}: speaker")
        check(call["call_id"].endswith("-" + first["meta"]["speaker_id"][-2:]),
              f"{call['call_id']}: the actor is not the id's last field")
        check(len(call["segments"]) == len(clip_ids) <= 2, f"{call['call_id']}: segments")
        with wave.open(os.path.join(out, call["audio"]), "rb") as w:
            check(w.getframerate() == RATE and w.getnchannels() == 1, "audio format")
            samples = struct.unpack("<%dh" % w.getnframes(), w.readframes(w.getnframes()))
        check(len(samples) == len(clip_ids) * RATE // 4, f"{call['call_id']}: length")
        for i, (cid, seg) in enumerate(zip(clip_ids, call["segments"])):
            source = clips[cid]["segments"][0]
            check(abs(seg["start"] - 0.25 * i) < 1e-6 and abs(seg["end"] - 0.25 * (i + 1)) < 1e-6,
                  f"{call['call_id']} segment {i}: times {seg['start']}-{seg['end']}")
            check(seg["labels"] == source["labels"] and seg["text"] == source["text"],
                  f"{call['call_id']} segment {i}: label or text not the clip's")
            k = int(cid.split("-")[2])
            span = samples[i * RATE // 4:(i + 1) * RATE // 4]
            check(set(span) == {100 * (k + 1)},
                  f"{call['call_id']} segment {i}: not {cid}'s samples")
        if len(clip_ids) == 2:
            check(clips[clip_ids[1]]["split"] == first["split"] and
                  clips[clip_ids[1]]["meta"] == first["meta"], f"{call['call_id']} mixes groups")
    check(sorted(seen) == sorted(clips), f"clips used: {sorted(seen)}")
    check(not os.path.exists(out + ".tmp"), "OUT.tmp left behind")

    # The same seed: the same calls; tenor data validate reads them.
    rc, text = run(src, out + "2", "--clips-per-call", "2", "--seed", "3")
    check(rc == 0 and digest(out) == digest(out + "2"), "the same seed gave other calls")
    p = subprocess.run([tenor, "data", "validate", out, "--allow-duplicates"],
                       capture_output=True, text=True)
    check(p.returncode == 0, f"tenor data validate: rc {p.returncode}: {p.stdout}{p.stderr}")

    # Refusals: a sentence, exit status 1, nothing written.
    rc, text = run(src, out, "--clips-per-call", "2")
    check(rc == 1 and "exists; remove it or name another OUT" in text, f"existing OUT: {text}")
    rc, text = run(src, os.path.join(work, "zero"), "--clips-per-call", "0")
    check(rc == 1 and "give 1 or more clips per call" in text, f"--clips-per-call 0: {text}")
    rc, text = run(os.path.join(work, "nowhere"), os.path.join(work, "none"))
    check(rc == 1 and "pass the dataset directory as SRC" in text, f"missing SRC: {text}")
    two = os.path.join(work, "two-segments")
    os.makedirs(two)
    with open(os.path.join(src, "calls.jsonl")) as f:
        lines = f.readlines()
    row = json.loads(lines[1])
    row["segments"].append(dict(row["segments"][0], start=0.1))
    with open(os.path.join(two, "calls.jsonl"), "w") as f:
        f.writelines([lines[0], json.dumps(row) + "\n"])
    rc, text = run(two, os.path.join(work, "none"))
    check(rc == 1 and "calls.jsonl:2: call 03-01-01-01 is not a one-clip call" in text,
          f"two segments: {text}")
    other = os.path.join(work, "other-format")
    shutil.copytree(src, other)
    write_wav(os.path.join(other, clips["03-01-01-01"]["audio"]), [1] * 100, rate=8000)
    rc, text = run(other, os.path.join(work, "none"), "--clips-per-call", "9")
    check(rc == 1 and "differs from the first clip" in text, f"another format: {text}")
    for name in ("zero", "none", "none.tmp", "zero.tmp"):
        check(not os.path.exists(os.path.join(work, name)), f"{name} was written")
    check(digest(src) == before, "the source dataset changed")
    if failures:
        print(f"{len(failures)} checks failed (work kept in {work})", file=sys.stderr)
        sys.exit(1)
    shutil.rmtree(work)
    print("ravdess_calls: all checks passed")


if __name__ == "__main__":
    main()
