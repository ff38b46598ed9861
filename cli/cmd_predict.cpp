// `tenor predict (--bundle BUNDLE | --run RUN) [CALL.wav] [--transcript T.jsonl]`: per-segment
// scores of one call as JSON, from the exported ONNX model in ONNX Runtime (--bundle) or from
// the run's LibTorch model (--run). The call's features are computed from its audio and
// transcript with the extractor configuration and SentencePiece model the model was trained
// with (the code path of `tenor data build`); `--features STORE --call ID` reads them from a
// feature store instead.
#include <algorithm>
#include <functional>
#include <iostream>
#include <limits>
#include <sstream>

#include "cli/commands.h"
#include "cli/predict.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
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
  // Batch prediction (cli/predict_batch.cpp).
  std::string dataset, list, split = "all";
  bool keep_going = false, progress = true;
};

std::string seconds(double s) {
  std::ostringstream o;
  o << s << " s";
  return o.str();
}

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

/// Segments' audio in one LLD batch: the batch's analysis buffers dominate predict's peak
/// memory (data build's 240 s batches take about 800 MB), and one call gains little from
/// batching.
constexpr double kLldBatchAudioS = 60;

double group_audio_s(const train::Predictor& model) {
  return model.transform().per_speaker() ? std::numeric_limits<double>::infinity() : kGroupAudioS;
}

features::BuildOptions predict_build_options(train::Predictor& model, const std::string& device,
                                             const fs::path& text_embeddings) {
  features::BuildOptions options = features::build_options_from_config(model.extractor_config());
  options.device = device;
  options.progress = false;
  options.batch_samples = int64_t(kLldBatchAudioS * options.lld.sample_rate_hz);
  options.text_embeddings = text_embeddings;
  return options;
}

namespace {

struct Scored {
  std::string call_id;
  json segments;
};

/// The call of `a` (audio and/or transcript) as a one-call dataset, with the extraction
/// options the model was trained with. Both backends take the call through here, so its audio
/// and transcript are checked once, before either runs.
CheckedCall check_call(const Args& a, train::Predictor& model) {
  data::CallInput in;
  in.audio = a.audio;
  in.transcript = a.transcript;
  if (!a.channels.empty()) in.channels = data::parse_channel_map(a.channels);
  in.call_id = a.call_id;
  in.window_s = a.window_s;
  in.speaker = a.speaker;
  CheckedCall call{data::single_call_dataset(in, predict_schema(model)),
                   predict_build_options(model, a.device, a.text_embeddings)};
  if (!in.audio.empty()) check_call_audio(in.audio, call.options.lld);
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
  features::extract_features(ds, call.options, model.tokenizer_model(), group_audio_s(model),
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

/// Refuses an --out the batch cannot write, or would write over an input, before any work.
void check_batch_out(const Args& a) {
  if (a.out.empty())
    throw UsageError("--dataset and --list write one JSON line per segment into a file: give "
                     "--out preds.jsonl");
  std::error_code ec;
  if (fs::is_directory(a.out, ec))
    throw UsageError("--out " + a.out + " is a directory; give a file name, e.g. " +
                     (fs::path(a.out) / "preds.jsonl").string());
  if (!a.dataset.empty()) data::refuse_output_inside_dataset(a.dataset, a.out);
  if (!a.list.empty() && fs::equivalent(a.list, a.out, ec))
    throw UsageError("--out " + a.out + " is the --list itself; tenor never writes over an " +
                     "input: choose another --out");
  if (a.split != "all" && a.split != "train" && a.split != "dev" && a.split != "test")
    throw UsageError("--split must be train, dev, test or all, not '" + a.split + "'");
}

/// `--dataset DIR` or `--list FILES.txt`: many calls scored in one process into --out, one
/// JSON line per segment (cli/predict_batch.cpp).
void predict_many(const Args& a) {
  check_batch_out(a);
  std::vector<ListedCall> listed;
  if (!a.list.empty()) listed = read_call_list(a.list);
  auto model = open_model(a);
  std::vector<BatchCall> calls;
  if (!a.dataset.empty())
    calls = dataset_calls(*model, a.dataset, a.split,
                          predict_build_options(*model, a.device, a.text_embeddings), a.keep_going);
  for (const auto& l : listed) {
    Args one = a;
    one.audio = l.audio.string();
    one.transcript = l.transcript.string();
    one.call_id = l.call_id;
    calls.push_back({a.list + ":" + std::to_string(l.line),
                     [one, m = model.get()] { return check_call(one, *m); }});
  }
  const BatchReport r = predict_batch(*model, calls, {a.out, a.keep_going, a.progress});
  logger("predict")->info(
      "scored {} of {} call(s), {} segment(s), in {:.1f} s ({:.2f} calls/s, {} model run(s)) "
      "into {}",
      r.calls, calls.size(), r.segments, r.seconds, double(r.calls) / std::max(r.seconds, 1e-9),
      r.model_runs, a.out);
  if (!r.skipped.empty())
    logger("predict")->warn("skipped {} call(s) (--keep-going):\n  {}", r.skipped.size(),
                            join(r.skipped, "\n  "));
}

/// The options of batch prediction. They exclude the options of one call (`one_call`);
/// --dataset also those its calls.jsonl gives per call (`per_call`: the channels).
void add_batch_options(CLI::App* cmd, const std::shared_ptr<Args>& a,
                       const std::vector<CLI::Option*>& one_call,
                       const std::vector<CLI::Option*>& per_call) {
  auto* ds = cmd->add_option("--dataset", a->dataset,
                             "score every call of this dataset directory (its channels) into "
                             "--out, one JSON line per segment");
  auto* list = cmd->add_option("--list", a->list,
                               "score the calls of this file (a WAV per line, optionally a tab "
                               "and its transcript) into --out, one JSON line per segment");
  ds->excludes(list);
  for (auto* o : one_call) ds->excludes(o), list->excludes(o);
  for (auto* o : per_call) ds->excludes(o);
  cmd->add_option("--split", a->split, "with --dataset: train, dev, test or all")
      ->capture_default_str()
      ->needs(ds);
  cmd->add_flag("--keep-going", a->keep_going,
                "with --dataset or --list: skip (and report) a call that fails, score the others");
  cmd->add_flag_function(
      "--no-progress", [a](int64_t) { a->progress = false; }, "no progress line");
}

}  // namespace

void add_predict_command(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "predict",
      "Per-segment scores of one call as JSON, from its audio and/or transcript (or from a "
      "feature store), or of many calls (--dataset, --list) as JSON lines");
  cmd->footer(
      "The transcript is JSONL, one segment per line: {\"start\": 0.0, \"end\": 3.4, "
      "\"speaker\": \"customer\", \"text\": \"...\"}. Without one, the audio is scored in "
      "windows of --window seconds. --dataset DIR or --list FILES.txt score many calls in one "
      "process into --out preds.jsonl. See docs/export.md.");
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
  add_batch_options(cmd, a, {audio, transcript, cid, f, call}, {ch, window, speaker});
  cmd->add_option("--text-embeddings", a->text_embeddings,
                  "sentence embeddings of the call's segments, for a model trained with "
                  "model.text_embedding (tools/sentence-embeddings/embed.sh)");
  cmd->add_option("--checkpoint", a->checkpoint, "checkpoint of --run")->capture_default_str();
  cmd->add_option("--out", a->out,
                  "write the JSON here (atomically) instead of stdout; with --dataset or "
                  "--list (required): one JSON line per segment");
  cmd->add_option("--device", a->device, "LibTorch device of the features and of --run's model")
      ->capture_default_str()
      ->check(device_validator());
  cmd->callback([a] {
    if (a->bundle.empty() == a->run.empty())
      throw UsageError("tenor predict needs one of --bundle BUNDLE or --run RUN");
    if (!a->dataset.empty() || !a->list.empty()) return predict_many(*a);
    if (a->keep_going)
      throw UsageError("--keep-going skips failing calls of --dataset or --list; one call "
                       "either scores or fails");
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
