#include "scoring/call_scoring.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "data/audio.h"
#include "data/features/sample_rate.h"
#include "data/features/store.h"
#include "data/features/store_channels.h"

namespace tenor::scoring {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// Segments' audio in one LLD batch: the batch's analysis buffers dominate predict's peak
/// memory (data build's 240 s batches take about 800 MB), and one call gains little from
/// batching.
constexpr double kLldBatchAudioS = 60;

}  // namespace

data::Schema predict_schema(train::Predictor& model) {
  data::Schema schema;
  schema.name = "predict";
  for (const auto& t : model.tasks()) {
    data::Task task;
    task.name = t.name;
    task.type = t.type;
    task.classes = t.classes;
    task.speaker = t.speaker;
    schema.tasks.push_back(task);
  }
  return schema;
}

features::BuildOptions predict_build_options(train::Predictor& model, const std::string& device) {
  features::BuildOptions options = features::build_options_from_config(model.extractor_config());
  options.device = device;
  options.progress = false;
  options.batch_samples = int64_t(kLldBatchAudioS * options.lld.sample_rate_hz);
  return options;
}

/// Refuses the call's audio when no score of it could mean anything, with the findings of
/// `tenor data validate` (audio-truncated, audio-empty) and one more: audio shorter than the
/// extractor's longest analysis window, whose every frame would be padding. Segments past the
/// audio's end are refused by single_call_dataset; once truncation is refused, the header's
/// duration it uses is the audio's.
namespace {

/// Refuses audio shorter than the extractor's longest analysis window, whose every frame
/// would be padding.
void refuse_shorter_than_a_frame(const std::string& name, int64_t frames, double duration_s,
                                 const features::LldConfig& lld) {
  const double window_s = std::max(lld.periods_per_window / lld.f0_floor_hz,
                                   lld.spectral_window_ms / 1000);
  if (duration_s < window_s)
    throw DataError(name + " holds " + std::to_string(frames) + " samples per channel (" +
                    format_seconds(duration_s) + "), shorter than one analysis frame of the " +
                    "model's extractor (" + format_seconds(window_s) + "); give at least " +
                    format_seconds(window_s) +
                    " of audio, or score the text alone with --transcript");
}

}  // namespace

void check_call_audio(const fs::path& audio, const features::LldConfig& lld) {
  const data::AudioScan scan = data::scan_audio(audio);
  const std::string file = audio.string();
  if (scan.truncated)
    throw DataError(file + " is truncated: its header promises " +
                    format_seconds(scan.declared_duration_s) + " but the file holds " +
                    format_seconds(scan.duration_s()) + "; re-copy or re-export the file");
  if (scan.frames_read == 0)
    throw DataError(file + " holds no samples (a header without audio); give the call's " +
                    "recording, or score its text alone with --transcript T.jsonl and no audio");
  if (scan.non_finite.count > 0)
    throw DataError(scan.non_finite.describe_in_file(file, scan.info.sample_rate_hz));
  if (scan.over_full_scale())
    logger("predict")->warn("{} {}", file, scan.describe_over_full_scale());
  if (scan.silent())
    logger("predict")->warn("{} is all silence (RMS below -80 dBFS on every channel): its "
                            "scores describe no voice; check the recording", file);
  refuse_shorter_than_a_frame(file, scan.frames_read, scan.duration_s(), lld);
}

void check_call_audio(const data::PcmView& pcm, const features::LldConfig& lld) {
  if (!(pcm.sample_rate_hz > 0))
    throw DataError(pcm.name + ": the sample rate is " + std::to_string(pcm.sample_rate_hz) +
                    " Hz; give the rate the samples were recorded at");
  if (pcm.frames == 0)
    throw DataError(pcm.name + " holds no samples; give the call's audio, or score its text "
                    "alone with a transcript and no samples");
  data::NonFiniteSamples non_finite;
  for (size_t c = 0; c < pcm.channels.size(); ++c)
    for (int64_t i = 0; i < pcm.frames; ++i)
      if (const float x = pcm.channels[c][i]; !std::isfinite(x))
        non_finite.add(int(c), pcm.first_frame + i, x);
  if (non_finite.count > 0)
    throw DataError(pcm.name + ": " + non_finite.describe(pcm.sample_rate_hz) +
                    "; give finite samples at full scale 1 (decode errors are often the cause)");
  refuse_shorter_than_a_frame(pcm.name, pcm.frames, pcm.info().duration_s(), lld);
}

data::ChannelConvention bundle_channels(const fs::path& bundle) {
  const fs::path file = bundle / "features.json";
  json facts;
  try {
    facts = json::parse(read_file(file));
  } catch (const json::exception& e) {
    throw DataError(file.string() + " is not JSON (" + e.what() +
                    "); the bundle is damaged: export it again, or check it with `tenor export "
                    "verify`");
  }
  return data::ChannelConvention::from_json(
      facts.is_object() ? facts.value("channel_convention", json()) : json(), file.string());
}

data::ChannelConvention run_channels(train::RunPredictor& run) {
  const std::string& store = train::run_store(run.run().info);
  return data::ChannelConvention::from_json(features::read_channel_convention(store), store);
}

CheckedCall check_call(const data::CallInput& in, train::Predictor& model,
                       const CheckOptions& options) {
  CheckedCall call{data::single_call_dataset(in, predict_schema(model)),
                   predict_build_options(model, options.device)};
  if (in.pcm) {
    check_call_audio(*in.pcm, call.options.lld);
    if (!options.allow_narrowband)
      features::check_sample_rate(in.pcm->sample_rate_hz, in.pcm->name, call.options.lld);
  } else if (!in.audio.empty()) {
    check_call_audio(in.audio, call.options.lld);
    if (!options.allow_narrowband) features::check_sample_rate(in.audio, call.options.lld);
  }
  return call;
}

double group_audio_s(const train::Predictor& model) {
  return model.transform().per_speaker() ? std::numeric_limits<double>::infinity() : kGroupAudioS;
}

json score_call(const CheckedCall& call, train::Predictor& model, std::mutex* model_lock) {
  std::vector<json> by_row;
  auto score_group = [&](features::Store& store, const std::vector<int64_t>& rows) {
    std::unique_lock<std::mutex> lock;
    if (model_lock) lock = std::unique_lock<std::mutex>(*model_lock);
    by_row.resize(store.segments.size());
    train::TrainData data = model.prepare(std::move(store), "the call's features");
    json part = train::segment_scores(model, data, rows, model.probabilities(data, rows));
    store = std::move(data.store);  // the next group reuses the call's rows
    for (size_t i = 0; i < rows.size(); ++i) by_row[size_t(rows[i])] = std::move(part[i]);
  };
  features::extract_features(call.dataset, call.options, model.tokenizer_model(),
                             group_audio_s(model), score_group);
  json segments = json::array();
  for (auto& j : by_row) segments.push_back(std::move(j));
  return segments;
}

}  // namespace tenor::scoring
