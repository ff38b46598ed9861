"""K speaker folds of a dataset's non-test calls, for choosing a config on more speakers than
its dev split holds (bench/robustness_cv.sh).

Writes OUT/fold1 .. OUT/foldK, each a dataset (calls.jsonl, dataset.yaml and the audio linked,
never copied) where the calls of fold k's speakers are the dev split, the other non-test calls
train, and the test split stays as it was (no fold ever trains or chooses on it). Speakers are
meta.speaker_id, sorted and cut into K contiguous folds of near-equal size; a call without one
is refused.

    python3 bench/speaker_folds.py DATASET OUT K
"""
import json
import os
import shutil
import sys


def main():
    if len(sys.argv) != 4 or not sys.argv[3].isdigit() or int(sys.argv[3]) < 2:
        sys.exit("usage: speaker_folds.py DATASET OUT K (K >= 2)")
    dataset, out, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    calls = []
    with open(os.path.join(dataset, "calls.jsonl")) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            call = json.loads(line)
            if call.get("split") != "test" and not call.get("meta", {}).get("speaker_id"):
                sys.exit(f"{dataset}/calls.jsonl line {number}: call {call.get('call_id')} has "
                         "no meta.speaker_id, so its speaker's fold is unknown; add it")
            calls.append(call)
    speakers = sorted({c["meta"]["speaker_id"] for c in calls if c.get("split") != "test"})
    if len(speakers) < k:
        sys.exit(f"{dataset} has {len(speakers)} speakers outside the test split, fewer than "
                 f"{k} folds; use fewer folds")
    fold_of = {s: i * k // len(speakers) for i, s in enumerate(speakers)}
    for fold in range(k):
        final = os.path.join(out, f"fold{fold + 1}")
        stage = final + ".tmp"
        shutil.rmtree(stage, ignore_errors=True)
        os.makedirs(stage)
        for name in os.listdir(dataset):
            if name != "calls.jsonl":
                os.symlink(os.path.realpath(os.path.join(dataset, name)),
                           os.path.join(stage, name))
        with open(os.path.join(stage, "calls.jsonl"), "w") as f:
            for call in calls:
                if call.get("split") != "test":
                    own = fold_of[call["meta"]["speaker_id"]] == fold
                    call = dict(call, split="dev" if own else "train")
                f.write(json.dumps(call) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        os.rename(stage, final)
        print(f"{final}: dev = {', '.join(s for s in speakers if fold_of[s] == fold)}")


if __name__ == "__main__":
    main()
