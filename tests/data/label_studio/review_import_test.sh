#!/usr/bin/env bash
# Label Studio itself reads a review's suspects as tenor exports them (issue 23, items 2-3):
# `tenor data export DIR --to label-studio --review review.json` on a `tenor data synth` set,
# then Label Studio (PyPI, pinned, in its own virtual environment in the cache; installed on
# the first run, which needs network) creates a project from tenor's label-config.xml and
# imports tenor's tasks.json through its import API. Checks what it answers (one task per
# call, one prediction per task with a suspect) and what it then serves back: each
# prediction's regions with the suggested class, the review's score and the suspect note,
# each region on a control of the labelling config as Label Studio parsed it (its import
# does not check that itself).
# The review is written here from the dataset's labels (the export checks every suspect
# against the dataset), so no fold model trains. ctest label `heavy` (outside the default
# suite): Label Studio's first start migrates its database, a minute or more.
#   tests/data/label_studio/review_import_test.sh TENOR_BINARY [PORT]
set -euo pipefail
tenor=${1:?usage: review_import_test.sh TENOR_BINARY [PORT]}
port=${2:-8091}
version=1.23.2
source "$(dirname "$0")/../../../scripts/cached-venv.sh"
venv=$(cached_venv "label-studio-$version" "label-studio==$version")
work=$(mktemp -d)
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

"$tenor" data synth --out "$work/ds" --calls 4 >/dev/null
# Three suspects on three calls: given = the segment's label, suggested = another class.
"$venv/bin/python" - "$work/ds" "$work/review.json" <<'PY'
import json, sys, yaml
ds, out = sys.argv[1], sys.argv[2]
schema = yaml.safe_load(open(f"{ds}/dataset.yaml"))["labels"]
suspects = []
for line in open(f"{ds}/calls.jsonl"):
    call = json.loads(line)
    for i, seg in enumerate(call["segments"]):
        task = next(iter(seg.get("labels", {})), None)
        if task is None:
            continue
        classes = schema[task]["classes"]
        given = seg["labels"][task]
        suspects.append({"rank": len(suspects) + 1, "call_id": call["call_id"], "segment": i,
                         "task": task, "given": classes[given],
                         "suggested": classes[(given + 1) % len(classes)],
                         "score": round(0.9 - 0.1 * len(suspects), 2),
                         "start": seg["start"], "end": seg["end"]})
        break
    if len(suspects) == 3:
        break
json.dump({"format": 1, "suspects": suspects}, open(out, "w"))
PY
"$tenor" data export "$work/ds" --to label-studio --review "$work/review.json" --out "$work/ls"

export LABEL_STUDIO_BASE_DATA_DIR=$work/lsdata LABEL_STUDIO_USERNAME=tenor@example.com \
       LABEL_STUDIO_PASSWORD=tenor-review-1
# (through python -m: the entry script's #! names the staging directory it was installed in)
"$venv/bin/python" -m label_studio.server start --no-browser --port "$port" --host 127.0.0.1 \
  >"$work/server.log" 2>&1 &
echo $! >"$work/pid"
base=http://127.0.0.1:$port
for _ in $(seq 120); do curl -sf "$base/health" >/dev/null && break; sleep 5; done
curl -sf "$base/health" >/dev/null || { tail -20 "$work/server.log"; echo "FAIL: Label Studio did not start" >&2; exit 1; }
jar=$work/cookies
curl -s -c "$jar" -b "$jar" "$base/user/login/" -o /dev/null
csrf() { awk '/csrftoken/ {print $7}' "$jar"; }
curl -s -c "$jar" -b "$jar" -H "Referer: $base/user/login/" -o /dev/null \
  -d "csrfmiddlewaretoken=$(csrf)&email=$LABEL_STUDIO_USERNAME&password=$LABEL_STUDIO_PASSWORD" \
  "$base/user/login/"
api=(-s -c "$jar" -b "$jar" -H "X-CSRFToken: $(csrf)" -H "Referer: $base/")
python3 -c 'import json,sys; print(json.dumps({"title": "tenor review", "label_config": open(sys.argv[1]).read()}))' \
  "$work/ls/label-config.xml" >"$work/project.json"
curl "${api[@]}" -H "Content-Type: application/json" -d @"$work/project.json" \
  "$base/api/projects" >"$work/project-answer.json"
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/project-answer.json") ||
  { cat "$work/project-answer.json"; echo "FAIL: Label Studio refused label-config.xml" >&2; exit 1; }
curl "${api[@]}" -H "Content-Type: application/json" --data-binary @"$work/ls/tasks.json" \
  "$base/api/projects/$id/import?commit_to_project=true" >"$work/import-answer.json"
curl "${api[@]}" "$base/api/projects/$id/export?exportType=JSON&download_all_tasks=true" \
  >"$work/export.json"
curl "${api[@]}" "$base/api/predictions?project=$id" >"$work/predictions.json"
curl "${api[@]}" "$base/api/projects/$id" >"$work/project-detail.json"
echo "Label Studio $version, import answered: $(cat "$work/import-answer.json")"
python3 - "$work/review.json" "$work/ls/tasks.json" "$work/import-answer.json" "$work/export.json" \
  "$work/predictions.json" "$work/project-detail.json" <<'PY'
import json, sys
review, tasks, answer, export, predictions, project = (json.load(open(p)) for p in sys.argv[1:7])
# Label Studio 1.23.2 imports a prediction whose regions name no tag of the labelling config
# without a word (tried: a from_name "nonexistent" was imported and served), so each region
# is checked here against the config as Label Studio itself parsed it.
controls = project["parsed_label_config"]
suspects = review["suspects"]
failures = []
if answer.get("task_count") != len(tasks):
    failures.append(f"task_count {answer.get('task_count')}, tenor wrote {len(tasks)} tasks")
if answer.get("prediction_count") != len(suspects):
    failures.append(f"prediction_count {answer.get('prediction_count')}, "
                    f"expected one per call with a suspect ({len(suspects)})")
# The project's tasks (its JSON export) and the predictions it serves (its predictions API).
call_of = {task["id"]: task["data"].get("call_id") for task in export}
served = {}
for p in predictions:
    for r in p.get("result", []):
        served[(call_of.get(p["task"]), r["value"].get("start"))] = (p, r)
for s in suspects:
    hit = [(p, r) for (call, start), (p, r) in served.items()
           if call == s["call_id"] and abs(start - s["start"]) < 1e-3]
    if not hit:
        failures.append(f"no prediction region for suspect {s['rank']} ({s['call_id']})")
        continue
    p, r = hit[0]
    control = controls.get(r["from_name"])
    if control is None:
        failures.append(f"suspect {s['rank']}: from_name {r['from_name']} is no control of the "
                        f"project's labelling config ({sorted(controls)})")
        continue
    if r["type"].lower() != control["type"].lower() or r["to_name"] not in control["to_name"]:
        failures.append(f"suspect {s['rank']}: {r['type']} -> {r['to_name']}, the config has "
                        f"{control['type']} -> {control['to_name']}")
    if not set(r["value"].get("choices", [])) <= set(control.get("labels", [])):
        failures.append(f"suspect {s['rank']}: {r['value'].get('choices')} not among "
                        f"{control.get('labels')}")
    if r["value"].get("choices") != [s["suggested"]]:
        failures.append(f"suspect {s['rank']}: choices {r['value'].get('choices')}")
    if abs(r.get("score", -1) - s["score"]) > 1e-6:
        failures.append(f"suspect {s['rank']}: region score {r.get('score')}, review {s['score']}")
    if f"given {s['given']}" not in json.dumps(r.get("meta", {})):
        failures.append(f"suspect {s['rank']}: meta {r.get('meta')} lacks the given label")
    print(f"suspect {s['rank']}: served as prediction '{p.get('model_version')}' score "
          f"{p.get('score')}, region {r['from_name']} -> {r['value'].get('choices')} "
          f"score {r.get('score')}, meta {r.get('meta')}")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
PY
