"""RAVDESS with quiet telephone-band copies of its own clips in test, for the audio fingerprint.

Usage: make_audio_copies.py TENOR SRC OUT_DIR

Runs `TENOR data degrade SRC --split train --ops telephone,gain=-6` (8 kHz telephone band with
G.711 mu-law, 6 dB quieter, new WAVs) into OUT_DIR/degraded, then writes OUT_DIR/set: SRC's
calls, plus every third degraded train call (106 of ravdess-anger's 317) added to test under a
new id ("copy-" + id) and speaker, its audio under copies/. The audio is linked, never copied:
OUT_DIR/set/audio -> SRC/audio, OUT_DIR/set/copies -> OUT_DIR/degraded/audio. The texts are
too short to pair by words (under 10), so every copy must be found by its audio:
`tenor data validate OUT_DIR/set --json F` lists the pairs (docs/benchmarks.md, "Audio
duplicates").
"""
import json, os, shutil, subprocess, sys

tenor, src, out = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
degraded = os.path.join(out, "degraded")
if not os.path.isdir(degraded):
    subprocess.run([tenor, "data", "degrade", src, "--out", degraded, "--split", "train",
                    "--ops", "telephone,gain=-6"], check=True)
dest = os.path.join(out, "set")
os.makedirs(dest, exist_ok=True)
shutil.copyfile(os.path.join(src, "dataset.yaml"), os.path.join(dest, "dataset.yaml"))
for name, target in (("audio", os.path.join(src, "audio")),
                     ("copies", os.path.join(degraded, "audio"))):
    link = os.path.join(dest, name)
    if not os.path.islink(link):
        os.symlink(target, link)
calls = [json.loads(l) for l in open(os.path.join(src, "calls.jsonl")) if l.strip()]
copies = [json.loads(l) for l in open(os.path.join(degraded, "calls.jsonl")) if l.strip()]
added = 0
for k, c in enumerate(copies):
    if k % 3:
        continue
    c["call_id"] = "copy-" + c["call_id"]
    c["split"] = "test"
    c["meta"]["speaker_id"] = "copy-" + c["meta"].get("speaker_id", str(k))
    c["audio"] = "copies/" + c["audio"].split("/", 1)[1]
    calls.append(c)
    added += 1
with open(os.path.join(dest, "calls.jsonl"), "w") as f:
    for c in calls:
        f.write(json.dumps(c) + "\n")
print("%s: %d calls, %d of them copies in test" % (dest, len(calls), added))
