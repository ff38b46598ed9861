"""A leaky text-only call set for `tenor data validate` / `data split` at scale.

Usage: make_leaky_set.py CALLS OUT_DIR

CALLS short synthetic calls (9 turns of 6-14 words from a 3,000-word vocabulary, seeded), 80/10/10
train/dev/test; a third of the test calls copy a train call, half of them exactly but
anonymised differently (upper case, an e-mail address where the original says #EMAIL#), half
with three words changed; every call also says "Yes.", "My address is #EMAIL#" and a goodbye.
docs/benchmarks.md ("Duplicate calls at scale") reports validate on 20,000 and 100,000 calls.
"""
import json, random, sys, os
n = int(sys.argv[1]); out = sys.argv[2]
rng = random.Random(1)
vocab = ["w%d" % i for i in range(3000)]
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "dataset.yaml"), "w").write(
    "name: leak\nversion: 1\nlabels:\n  escalation: {type: binary, classes: [calm, escalated], speaker: customer}\n")
def turns():
    t = []
    for k in range(6):
        words = [rng.choice(vocab) for _ in range(rng.randint(6, 14))]
        t.append(" ".join(words).capitalize() + ".")
    t.insert(1, "Yes."); t.insert(3, "My address is #EMAIL#"); t.append("Thank you for calling, goodbye.")
    return t
calls = []
for i in range(n):
    split = "test" if i % 10 == 0 else "dev" if i % 10 == 1 else "train"
    calls.append({"call_id": "c%06d" % i, "split": split, "meta": {"speaker_id": "s%d" % i}, "t": turns()})
train = [c for c in calls if c["split"] == "train"]
tests = [c for c in calls if c["split"] == "test"]
leaked = 0
for k, c in enumerate(tests):
    if k % 3: continue
    src = rng.choice(train)
    t = list(src["t"])
    if k % 2 == 0:
        t = [s.replace("#EMAIL#", "ann.lee@mail.test").upper() for s in t]
    else:
        for _ in range(3):
            j = rng.randrange(len(t)); w = t[j].split(); w[rng.randrange(len(w))] = rng.choice(vocab); t[j] = " ".join(w)
    c["t"] = t; leaked += 1
with open(os.path.join(out, "calls.jsonl"), "w") as f:
    for c in calls:
        segs = [{"start": float(s), "end": s + 0.9, "speaker": "customer" if s % 2 == 0 else "agent", "text": x}
                for s, x in enumerate(c["t"])]
        segs[0]["labels"] = {"escalation": rng.randint(0, 1)}
        f.write(json.dumps({"call_id": c["call_id"], "split": c["split"], "meta": c["meta"], "segments": segs}) + "\n")
print("calls", n, "test", len(tests), "leaked", leaked)
