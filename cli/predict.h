#pragma once
// `tenor predict`, shared by its one-call form (cli/cmd_predict.cpp) and its batch form
// (cli/predict_batch.cpp: `--dataset DIR` or `--list FILES.txt`, `--out preds.jsonl`): how a
// call is checked and extracted for a model, and how many calls are scored in one process.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/features/build.h"
#include "scoring/call_scoring.h"
#include "train/predictor.h"

namespace tenor::cli {

// How a call is checked and scored: the library's one path (scoring/call_scoring.h).
using scoring::check_call_audio;
using scoring::CheckedCall;
using scoring::group_audio_s;
using scoring::kGroupAudioS;
using scoring::predict_build_options;
using scoring::predict_schema;

/// One call of a batch: `where` names it in messages ("FILES.txt:3", "call c7
/// (calls.jsonl:7)"); `check` gives it checked, or throws what `tenor predict` of that call
/// alone would throw.
struct BatchCall {
  std::string where;
  std::function<CheckedCall()> check;
};

struct BatchOptions {
  std::filesystem::path out;  ///< preds.jsonl, written atomically
  bool keep_going = false;    ///< skip a call that fails (reported), score the others
  bool progress = true;
};

struct BatchReport {
  size_t calls = 0, segments = 0;    ///< scored
  std::vector<std::string> skipped;  ///< "where: reason", with keep_going
  double seconds = 0;
  size_t model_runs = 0;  ///< Predictor::probabilities calls (ONNX Runtime starts, for a bundle)
};

/// Scores `calls` in order with `model` loaded once, and writes one JSON line per segment
/// (`call_id` and the fields of train::segment_scores: segment, speaker, start_s, end_s,
/// tasks) to options.out, calls in order and each call's segments in segment order. Features
/// are extracted call by call (features::extract_features); the rows of many calls are scored
/// in one Predictor::probabilities call, so that a bundle starts ONNX Runtime once per batch of
/// calls rather than once per call. A call that fails is skipped and reported with
/// keep_going; without it the first failure ends the command with its error, naming the call
/// (the same error type, so the same exit status). options.out appears only when complete
/// (also on an interrupt, nothing is left behind); DataError when no call could be scored.
BatchReport predict_batch(train::Predictor& model, const std::vector<BatchCall>& calls,
                          const BatchOptions& options);

/// One line of a call list (`--list FILES.txt`, format in docs/export.md): a call's audio and
/// optional transcript (paths resolved against the list's directory) and its call id (the
/// audio's path as written, without its extension).
struct ListedCall {
  std::filesystem::path audio, transcript;
  std::string call_id;
  int64_t line = 0;
};

/// Reads a call list: one call per line, `AUDIO` or `AUDIO<TAB>TRANSCRIPT`; blank lines and
/// lines starting with `#` are skipped. DataError naming `file:line` for a line that is not
/// one (three fields, a NUL byte, a space where the tab belongs, a call listed twice) and for a
/// list without a call. Files are not opened here: a missing one fails its call.
std::vector<ListedCall> read_call_list(const std::filesystem::path& list);

/// The calls of the dataset `dir` in split `split` (train, dev, test, or all), to be scored
/// by `model`: read by the dataset reader (its errors refused: DataError listing them), their
/// labels dropped (scores need none), the dataset's speaker-to-channel mapping kept. The audio
/// checks of `tenor data validate` run first, on every selected call: without keep_going a
/// failing call is a DataError listing every one; with it, the failing calls are handed on
/// with their reasons, to be reported and skipped. DataError when the split holds no call, or
/// no segment has a role the model scores; UsageError for another split name. A call on
/// multi-channel audio without a `channels` mapping takes `convention`'s when its audio fits
/// it, and otherwise fails as a call (DataError, skipped with keep_going).
std::vector<BatchCall> dataset_calls(train::Predictor& model, const std::filesystem::path& dir,
                                     const std::string& split,
                                     const features::BuildOptions& options, bool keep_going,
                                     const data::ChannelConvention& convention);

}  // namespace tenor::cli
