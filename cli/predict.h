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
#include "train/predictor.h"

namespace tenor::cli {

/// A call checked for a model: a one-call dataset (its audio, channels and segments) and the
/// options its features are extracted with (the model's extractor configuration).
struct CheckedCall {
  data::Dataset dataset;
  features::BuildOptions options;
};

/// A label schema for calls scored by `model`: its tasks, their classes and roles; no labels.
data::Schema predict_schema(train::Predictor& model);

/// The options `tenor predict` extracts a call's features with: the model's extractor
/// configuration, on `device`, with the sentence embeddings of `text_embeddings` ("": none),
/// in LLD batches small enough to bound its memory, without a progress line.
features::BuildOptions predict_build_options(train::Predictor& model, const std::string& device,
                                             const std::filesystem::path& text_embeddings);

/// Refuses audio no score of which could mean anything (truncated, no samples, shorter than
/// one analysis frame of `lld`). DataError naming the file and the fix.
void check_call_audio(const std::filesystem::path& audio, const features::LldConfig& lld);

/// Seconds of audio whose features are held at a time when scoring a long call.
inline constexpr double kGroupAudioS = 600;

/// The seconds of audio `model` is scored in per group (features::extract_features):
/// kGroupAudioS, or the whole call for a model that normalises per speaker, since each
/// segment is centred on its speaker's statistics over the whole call (memory then grows
/// with the call, docs/export.md).
double group_audio_s(const train::Predictor& model);

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
/// no segment has a role the model scores; UsageError for another split name.
std::vector<BatchCall> dataset_calls(train::Predictor& model, const std::filesystem::path& dir,
                                     const std::string& split,
                                     const features::BuildOptions& options, bool keep_going);

}  // namespace tenor::cli
