// `tenor predict (--bundle BUNDLE | --run RUN) [CALL.wav] [--transcript T.jsonl]`: per-segment
// scores of one call as JSON, from the exported ONNX model in ONNX Runtime (--bundle) or from
// the run's LibTorch model (--run). The call's features are computed from its audio and
// transcript with the extractor configuration and SentencePiece model the model was trained
// with (the code path of `tenor data build`); `--features STORE --call ID` reads them from a
// feature store instead.
#include <algorithm>
#include <functional>
#include <iostream>

#include "cli/commands.h"
#include "cli/predict.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
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
  std::string device = "cpu";
  double window_s = 10;
  bool mix = false, allow_narrowband = false;
  // Batch prediction (cli/predict_batch.cpp).
  std::string dataset, list, split = "all";
  bool keep_going = false, progress = true;
};

struct Scored {
  std::string call_id;
  json segments;
};

/// The call of `a` (audio and/or transcript) checked for `model` (scoring::check_call): both
/// backends take the call through here, so its audio and transcript are checked once, before
/// either runs. `convention`: how the model's training calls put roles on channels.
CheckedCall check_call(const Args& a, train::Predictor& model,
                       const data::ChannelConvention& convention) {
  data::CallInput in;
  in.audio = a.audio;
  in.transcript = a.transcript;
  if (!a.channels.empty()) in.channels = data::parse_channel_map(a.channels);
  in.call_id = a.call_id;
  in.window_s = a.window_s;
  in.speaker = a.speaker;
  in.mix = a.mix;
  in.convention = convention;
  return scoring::check_call(in, model, {a.device, a.allow_narrowband});
}

/// Scores a checked call (scoring::score_call, the library's path).
Scored score_one_call(const CheckedCall& call, train::Predictor& model) {
  const auto& ds = call.dataset;
  return {ds.calls.empty() ? "" : ds.calls.front().call_id, scoring::score_call(call, model)};
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

/// How the training calls of the model of `a` put roles on channels.
data::ChannelConvention model_channels(const Args& a, train::Predictor& model) {
  if (!a.bundle.empty()) return scoring::bundle_channels(a.bundle);
  return scoring::run_channels(static_cast<train::RunPredictor&>(model));
}

/// Refuses an --out the batch cannot write, or would write over an input, before any work.
void check_batch_out(const Args& a) {
  if (a.out.empty())
    throw UsageError("--dataset and --list write one JSON line per segment into a file: give "
                     "--out preds.jsonl");
  new_output_file(a.out, "--out", "preds.jsonl");
  std::error_code ec;
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
  const data::ChannelConvention convention = model_channels(a, *model);
  std::vector<BatchCall> calls;
  if (!a.dataset.empty())
    calls = dataset_calls(*model, a.dataset, a.split,
                          predict_build_options(*model, a.device), a.keep_going, convention);
  for (const auto& l : listed) {
    Args one = a;
    one.audio = l.audio.string();
    one.transcript = l.transcript.string();
    one.call_id = l.call_id;
    calls.push_back({a.list + ":" + std::to_string(l.line),
                     [one, m = model.get(), convention] { return check_call(one, *m, convention); }});
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
  auto* mix = cmd->add_flag("--mix", a->mix,
                             "mix multi-channel audio into one voice track (instead of "
                             "--channels or the mapping of the model's training calls)");
  mix->excludes(ch);
  cmd->add_flag("--allow-narrowband", a->allow_narrowband,
                "score audio sampled too low for the model's analysis (its upper bands empty)");
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
  for (auto* o : {audio, transcript, ch, mix, window, speaker, cid}) f->excludes(o);
  add_batch_options(cmd, a, {audio, transcript, cid, f, call}, {ch, mix, window, speaker});
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
    Scored scored = a->features.empty()
                        ? score_one_call(check_call(*a, *model, model_channels(*a, *model)), *model)
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
