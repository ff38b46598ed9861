#!/usr/bin/env bash
# Regenerates export-1.23.2.json: a Label Studio export written by Label Studio itself
# (tests/data/label_tools_test.cpp, LabelStudioItself.*). The dataset is `tenor data synth
# --calls 2` (seed 1); tenor exports it, Label Studio 1.23.2 (PyPI) creates a project from
# tenor's label-config.xml, imports tenor's tasks.json and exports the project as JSON.
# Needs network for pip once; takes a few minutes (Label Studio's first start migrates its
# database). Usage: tests/data/label_studio/make_export.sh [TENOR_BINARY]
set -euo pipefail
tenor=${1:-build/tenor}
out=$(cd "$(dirname "$0")" && pwd)/export-1.23.2.json
work=$(mktemp -d)
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q label-studio==1.23.2
"$tenor" data synth --out "$work/ds" --calls 2
"$tenor" data export "$work/ds" --to label-studio --out "$work/ls"
export LABEL_STUDIO_BASE_DATA_DIR=$work/lsdata LABEL_STUDIO_USERNAME=tenor@example.com \
       LABEL_STUDIO_PASSWORD=tenor-fixture-1
"$work/venv/bin/label-studio" start --no-browser --port 8089 --host 127.0.0.1 \
  >"$work/server.log" 2>&1 &
echo $! >"$work/pid"
until curl -sf http://127.0.0.1:8089/health >/dev/null; do sleep 5; done
jar=$work/cookies
curl -s -c "$jar" -b "$jar" http://127.0.0.1:8089/user/login/ -o /dev/null
csrf() { awk '/csrftoken/ {print $7}' "$jar"; }
curl -s -c "$jar" -b "$jar" -H "Referer: http://127.0.0.1:8089/user/login/" -o /dev/null \
  -d "csrfmiddlewaretoken=$(csrf)&email=$LABEL_STUDIO_USERNAME&password=$LABEL_STUDIO_PASSWORD" \
  http://127.0.0.1:8089/user/login/
api=(-s -c "$jar" -b "$jar" -H "X-CSRFToken: $(csrf)" -H "Referer: http://127.0.0.1:8089/")
python3 -c 'import json,sys; print(json.dumps({"title": "tenor", "label_config": open(sys.argv[1]).read()}))' \
  "$work/ls/label-config.xml" >"$work/project.json"
id=$(curl "${api[@]}" -H "Content-Type: application/json" -d @"$work/project.json" \
  http://127.0.0.1:8089/api/projects | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl "${api[@]}" -H "Content-Type: application/json" --data-binary @"$work/ls/tasks.json" \
  "http://127.0.0.1:8089/api/projects/$id/import?commit_to_project=true" >/dev/null
curl "${api[@]}" -o "$out" \
  "http://127.0.0.1:8089/api/projects/$id/export?exportType=JSON&download_all_tasks=true"
echo "wrote $out"
