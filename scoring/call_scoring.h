#pragma once
// The one path from a call (audio and/or transcript) to its per-segment scores, shared by
// `tenor predict` (cli/cmd_predict.cpp, cli/predict_batch.cpp) and the library products link
// (scoring/scoring.h): the call checked and mapped to channels (data::single_call_dataset), its
// features computed as the model was trained (features::extract_features), then
// train::Predictor::probabilities and train::segment_scores. Internal: includes LibTorch.

#include <filesystem>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "data/call_input.h"
#include "data/dataset.h"
#include "data/features/build.h"
#include "train/predictor.h"

namespace tenor::scoring {

/// A call checked for a model: a one-call dataset (its audio, channels and segments) and the
/// options its features are extracted with (the model's extractor configuration).
struct CheckedCall {
  data::Dataset dataset;
  features::BuildOptions options;
};

/// A label schema for calls scored by `model`: its tasks, their classes and roles; no labels.
data::Schema predict_schema(train::Predictor& model);

/// The options a call's features are extracted with: the model's extractor configuration, on
/// `device`, in LLD batches small enough to bound its memory, without a progress line.
features::BuildOptions predict_build_options(train::Predictor& model, const std::string& device);

/// Refuses audio no score of which could mean anything (truncated, no samples, shorter than
/// one analysis frame of `lld`). DataError naming the file and the fix.
void check_call_audio(const std::filesystem::path& audio, const features::LldConfig& lld);
/// The same for PCM in memory, which must also hold only finite samples: DataError naming
/// `pcm.name`, the channel and the time of the first bad sample.
void check_call_audio(const data::PcmView& pcm, const features::LldConfig& lld);

/// How the calls a model was trained on put roles on channels: a bundle's features.json
/// `channel_convention`, a run's feature store's record (none for models made before tenor
/// recorded it). DataError naming the file when the record is malformed.
data::ChannelConvention bundle_channels(const std::filesystem::path& bundle);
data::ChannelConvention run_channels(train::RunPredictor& run);

/// How a call is checked: the extraction device, and whether audio sampled too low for the
/// model's analysis is scored anyway.
struct CheckOptions {
  std::string device = "cpu";
  bool allow_narrowband = false;
};

/// The call `in` checked for `model` (data::single_call_dataset: transcript, channels) and its
/// audio checked (check_call_audio, features::check_sample_rate unless allowed), before any
/// extraction. Throws DataError (bad input, exit 1) or UsageError (unmapped channels, exit 2).
CheckedCall check_call(const data::CallInput& in, train::Predictor& model,
                       const CheckOptions& options);

/// Seconds of audio whose features are held at a time when scoring a long call.
inline constexpr double kGroupAudioS = 600;

/// The seconds of audio `model` is scored in per group (features::extract_features):
/// kGroupAudioS, or the whole call for a model that normalises per speaker, since each
/// segment is centred on its speaker's statistics over the whole call (memory then grows
/// with the call, docs/export.md).
double group_audio_s(const train::Predictor& model);

/// Scores a checked call with the features the model was trained on, computed group by group
/// (features::extract_features) so that a long call never has all its audio or LLD frames in
/// memory. Returns every segment's scores (train::segment_scores) in segment order. With
/// `model_lock`, the model is used under it (many threads, one loaded model); extraction runs
/// outside it.
nlohmann::json score_call(const CheckedCall& call, train::Predictor& model,
                          std::mutex* model_lock = nullptr);

}  // namespace tenor::scoring
