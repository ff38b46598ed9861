// `tenor predict (--bundle BUNDLE | --run RUN) [CALL.wav] [--transcript T.jsonl]`: per-segment
// scores of one call as JSON, from the exported ONNX model in ONNX Runtime (--bundle) or from
// the run's LibTorch model (--run). The call's features are computed from its audio and
// transcript with the extractor configuration and SentencePiece model the model was trained
// with (the code path of `tenor data build`); `--features STORE --call ID` reads them from a
// feature store instead.
#include <algorithm>
#include <functional>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/audio.h"
#include "data/call_input.h"
#include "data/features/build.h"
#include "data/features/store.h"
#include "export/bundle_predictor.h"
#include "train/predictor.h"

namespace tenor::cli {
namespace {
using nlohmann::json;
namespace fs = std::filesystem;
namespace ox = onnx_export;

struct Args {
  std::string bundle, run, features, call, checkpoint = "best.pt";
  std::string audio, transcript, channels, speaker = "customer", call_id, out;
  std::string text_embeddings, device = "cpu";
  double window_s = 10;
};

/// A label schema for a call given on the command line: the model's tasks, no labels.
data::Schema schema_for(const std::vector<train::TaskSpec>& tasks,
                        const std::map<std::string, std::vector<std::string>>& classes) {
  data::Schema schema;
  schema.name = "predict";
  for (const auto& t : tasks) {
    data::Task task;
    task.name = t.name;
    task.type = t.type;
    task.classes = classes.at(t.name);
    task.speaker = t.speaker;
    schema.tasks.push_back(task);
  }
  return schema;
}

std::string seconds(double s) {
  std::ostringstream o;
  o << s << " s";
  return o.str();
}

/// Refuses the call's audio when no score of it could mean anything, with the findings of
/// `tenor data validate` (audio-truncated, audio-empty) and one more: audio shorter than the
/// extractor's longest analysis window, whose every frame would be padding. Segments past the
/// audio's end are refused by single_call_dataset; once truncation is refused, the header's
/// duration it uses is the audio's.
void check_call_audio(const fs::path& audio, const features::LldConfig& lld) {
  const data::AudioScan scan = data::scan_audio(audio);
  const std::string file = audio.string();
  if (scan.truncated)
    throw DataError(file + " is truncated: its header promises " +
                    seconds(scan.declared_duration_s) + " but the file holds " +
                    seconds(scan.duration_s()) + "; re-copy or re-export the file");
  if (scan.frames_read == 0)
    throw DataError(file + " holds no samples (a header without audio); give the call's " +
                    "recording, or score its text alone with --transcript T.jsonl and no audio");
  const double window_s = std::max(lld.periods_per_window / lld.f0_floor_hz,
                                   lld.spectral_window_ms / 1000);
  if (scan.duration_s() < window_s)
    throw DataError(file + " holds " + std::to_string(scan.frames_read) + " samples per channel (" +
                    seconds(scan.duration_s()) + "), shorter than one analysis frame of the " +
                    "model's extractor (" + seconds(window_s) + "); give at least " +
                    seconds(window_s) + " of audio, or score the text alone with --transcript");
}

struct Scored {
  std::string call_id;
  json segments;
};

/// Seconds of audio whose features are held at a time when scoring a long call, and of
/// segments in one LLD batch: the batch's analysis buffers dominate predict's peak memory
/// (data build's 240 s batches take about 800 MB), and one call gains little from batching.
constexpr double kGroupAudioS = 600;
constexpr double kLldBatchAudioS = 60;

/// The call of `a` (audio and/or transcript) as a one-call dataset, with the extraction
/// options the model was trained with. Both backends take the call through here, so its audio
/// and transcript are checked once, before either runs.
struct CheckedCall {
  data::Dataset dataset;
  features::BuildOptions options;
};

CheckedCall check_call(const Args& a, train::Predictor& model) {
  std::map<std::string, std::vector<std::string>> classes;
  for (const auto& t : model.tasks()) classes[t.name] = t.classes;
  data::CallInput in;
  in.audio = a.audio;
  in.transcript = a.transcript;
  if (!a.channels.empty()) in.channels = data::parse_channel_map(a.channels);
  in.call_id = a.call_id;
  in.window_s = a.window_s;
  in.speaker = a.speaker;
  CheckedCall call{data::single_call_dataset(in, schema_for(model.tasks(), classes)),
                   features::build_options_from_config(model.extractor_config())};
  if (!in.audio.empty()) check_call_audio(in.audio, call.options.lld);
  call.options.device = a.device;
  call.options.progress = false;
  call.options.batch_samples = int64_t(kLldBatchAudioS * call.options.lld.sample_rate_hz);
  call.options.text_embeddings = a.text_embeddings;
  return call;
}

/// Scores a checked call with the features the model was trained on, computed group by group
/// (features::extract_features) so that a long call never has all its audio or LLD frames in
/// memory. Returns every segment's scores in segment order.
Scored score_call(const CheckedCall& call, train::Predictor& model) {
  const auto& ds = call.dataset;
  Scored out{ds.calls.empty() ? "" : ds.calls.front().call_id, json::array()};
  std::vector<json> by_row;
  auto score_group = [&](features::Store& store, const std::vector<int64_t>& rows) {
    by_row.resize(store.segments.size());
    train::TrainData data = model.prepare(std::move(store), "the call's features");
    json part = train::segment_scores(model, data, rows, model.probabilities(data, rows));
    store = std::move(data.store);  // the next group reuses the call's rows
    for (size_t i = 0; i < rows.size(); ++i) by_row[size_t(rows[i])] = std::move(part[i]);
  };
  features::extract_features(ds, call.options, model.tokenizer_model(), kGroupAudioS,
                             score_group);
  for (auto& j : by_row) out.segments.push_back(std::move(j));
  return out;
}

/// Scores one call of a feature store.
Scored score_stored_call(const Args& a, train::Predictor& model) {
  train::TrainData data = model.prepare(features::read_store(a.features), a.features);
  auto rows = train::call_rows(data.store, a.call);
  return {data.store.segments.at(size_t(rows.at(0))).call_id,
          train::segment_scores(model, data, rows, model.probabilities(data, rows))};
}

/// The model of --bundle (ONNX Runtime) or --run (LibTorch).
std::unique_ptr<train::Predictor> open_model(const Args& a) {
  if (!a.bundle.empty()) return std::make_unique<ox::BundlePredictor>(a.bundle);
  return std::make_unique<train::RunPredictor>(a.run, a.device, a.checkpoint);
}

}  // namespace

void add_predict_command(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "predict",
      "Per-segment scores of one call as JSON, from its audio and/or transcript (or from a "
      "feature store)");
  cmd->footer(
      "The transcript is JSONL, one segment per line: {\"start\": 0.0, \"end\": 3.4, "
      "\"speaker\": \"customer\", \"text\": \"...\"}. Without one, the audio is scored in "
      "windows of --window seconds. See docs/export.md.");
  auto* b = cmd->add_option("--bundle", a->bundle, "exported bundle (ONNX Runtime path)");
  auto* r = cmd->add_option("--run", a->run, "run directory (LibTorch path)");
  b->excludes(r);
  auto* audio = cmd->add_option("audio", a->audio, "the call's audio (WAV or FLAC)");
  auto* transcript =
      cmd->add_option("--transcript", a->transcript, "the call's segments and text (JSONL)");
  auto* ch =
      cmd->add_option("--channels", a->channels,
                      "channel of each role in multi-channel audio, e.g. agent=0,customer=1");
  auto* window =
      cmd->add_option("--window", a->window_s, "without a transcript: seconds per scored window")
          ->capture_default_str();
  auto* speaker = cmd->add_option("--speaker", a->speaker,
                                  "without a transcript or channels: the role of the audio")
                      ->capture_default_str();
  auto* cid =
      cmd->add_option("--call-id", a->call_id, "call id in the output (default: file stem)");
  auto* f = cmd->add_option("--features", a->features, "feature store holding the call");
  auto* call = cmd->add_option("--call", a->call, "call id in --features");
  f->needs(call);
  call->needs(f);
  for (auto* o : {audio, transcript, ch, window, speaker, cid}) f->excludes(o);
  cmd->add_option("--text-embeddings", a->text_embeddings,
                  "sentence embeddings of the call's segments, for a model trained with "
                  "model.text_embedding (tools/sentence-embeddings/embed.sh)");
  cmd->add_option("--checkpoint", a->checkpoint, "checkpoint of --run")->capture_default_str();
  cmd->add_option("--out", a->out, "write the JSON here (atomically) instead of stdout");
  cmd->add_option("--device", a->device, "LibTorch device of the features and of --run's model")
      ->capture_default_str()
      ->check(device_validator());
  cmd->callback([a] {
    if (a->bundle.empty() == a->run.empty())
      throw UsageError("tenor predict needs one of --bundle BUNDLE or --run RUN");
    if (a->features.empty() && a->audio.empty() && a->transcript.empty())
      throw UsageError(
          "tenor predict needs the call: CALL.wav and/or --transcript T.jsonl (or --features "
          "STORE --call ID)");
    auto model = open_model(*a);
    Scored scored = a->features.empty() ? score_call(check_call(*a, *model), *model)
                                        : score_stored_call(*a, *model);
    json out = {{"call_id", scored.call_id},
                {"source", a->bundle.empty() ? "libtorch" : "onnxruntime"},
                {"model", a->bundle.empty() ? a->run : a->bundle},
                {"segments", scored.segments}};
    if (a->out.empty())
      std::cout << out.dump(2) << "\n";
    else
      write_file_atomic(a->out, out.dump(2) + "\n");
  });
}

}  // namespace tenor::cli
