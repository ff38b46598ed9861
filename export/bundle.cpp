#include "export/bundle.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>

#include "data/features/columns.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/torch_compat.h"
#include "core/version.h"
#include "data/features/speech_encoder.h"
#include "data/features/store.h"
#include "eval/bootstrap.h"
#include "eval/evaluate.h"
#include "eval/report.h"
#include "data/call_input.h"
#include "data/features/store_channels.h"
#include "export/bundle_checks.h"
#include "export/bundle_install.h"
#include "export/bundle_predictor.h"
#include "export/model_card.h"
#include "export/onnx_layers.h"
#include "train/predictor.h"

namespace tenor::onnx_export {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// The bundle's quantisation as recorded in manifest.json, parity.json and the graph's
/// metadata (`tenor.quantize`): "int8" or "none".
std::string quantize_name(const ExportOptions& o) { return o.quantize.empty() ? "none" : o.quantize; }

json tasks_json(const train::ModelShape& shape, const features::Store& store) {
  json tasks = json::array();
  for (const auto& t : shape.tasks)
    tasks.push_back({{"name", t.name},
                     {"type", data::to_string(t.type)},
                     {"speaker", t.speaker},
                     {"classes", store.task_classes.at(t.name)},
                     {"modalities", train::modalities(t, features::speech_width(store) > 0)},
                     {"output", prob_output_name(t.name)}});
  return tasks;
}

/// The run being exported and what every part of the bundle is made from: its decision
/// rules, the store of the parity gate and the held-out evaluation of the model card.
struct ExportSource {
  train::RunPredictor predictor;
  std::string store_path = {};
  std::shared_ptr<const train::TrainData> data = {};
  std::optional<eval::EvalSet> eval_set = {};   ///< the held-out rows the report scored
  std::optional<eval::EvalReport> report = {};  ///< `tenor eval`'s, on test (dev without test)
  std::string eval_split = {};
  std::string config_yaml = {};
};

/// The model card's evaluation: exactly `tenor eval --run RUN --data STORE --split test`
/// (the default configuration, the run's rules), on dev when the store has no test split.
void evaluate_held_out(ExportSource& s) {
  const auto& d = *s.data;
  s.eval_split = d.test.empty() ? "dev" : "test";
  const auto& rows = d.test.empty() ? d.dev : d.test;
  if (rows.empty()) return;
  s.eval_set = train::eval_set(s.predictor, d, rows);
  s.report = eval::evaluate(*s.eval_set, eval::EvalConfig{}, &s.predictor.rules());
}

/// How the run's training calls put roles on channels (its store's record; null for a store
/// built before it was recorded): what `tenor predict --bundle` maps a call's channels by.
json training_channels(const fs::path& store) {
  std::error_code ec;
  if (!fs::is_regular_file(store, ec)) return nullptr;
  return data::ChannelConvention::from_json(features::read_channel_convention(store),
                                            store.string())
      .to_json();
}

/// The facts of features.json (and the graph's `tenor.features`): the store's columns and
/// extractor, and the run's input transform's cuts and inputs.
json features_facts(ExportSource& s) {
  const auto& t = s.predictor.run().info.transform;
  const auto& store = s.data->store;
  const auto& meta = store.meta;
  return {{"feature_set_version", meta.feature_set_version},
          {"functionals_version", meta.functionals_version},
          {"extractor_config",
           json::parse(meta.extractor_config.empty() ? std::string("{}") : meta.extractor_config)},
          {"lld_columns", store.layout.lld_columns},
          {"functional_columns", store.layout.functional_columns},
          {"tokenizer_sha256", meta.tokenizer_sha256},
          {"max_frames", t.max_frames},
          {"max_tokens", t.max_tokens},
          {"context_tokens", t.context_tokens},
          {"normalize_loudness", t.normalize_loudness},
          {"speaker_normalization", t.speaker_normalization},
          {"channel_convention", training_channels(s.predictor.run().info.config.features)}};
}

/// What `tenor.inputs` says the graph takes: the transform's inputs.
std::string inputs_description(ExportSource& s) {
  const auto& t = s.predictor.run().info.transform;
  std::string d =
      "raw feature-store values: frames [B,T,F_lld] float, frame_len [B] int64, functionals "
      "[B,F] float, func_mask [B,F] float 0/1, tokens [B,L] int64, token_len [B] int64";
  if (t.context_tokens > 0)
    d += ", ctx_tokens [B,C] int64 and ctx_len [B] int64 (the previous segment's tokens in the "
         "call)";
  if (t.per_speaker())
    d += ", speaker_lld_mean [B,F_lld], speaker_func_mean [B,F] and speaker_func_count [B,F] "
         "float (each segment's speaker's means over that speaker's segments in the call, "
         "docs/export.md)";
  return d + "; normalised inside the graph with the run's input_transform.json";
}

/// The key facts in the graph's metadata_props.
std::vector<std::pair<std::string, std::string>> graph_metadata(ExportSource& s,
                                                                const std::string& created,
                                                                const json& tasks,
                                                                const json& features) {
  const auto& info = s.predictor.run().info;
  const auto& meta = s.data->store.meta;
  return {{"tenor.version", kVersion},
          {"tenor.git_commit", kGitCommit},
          {"tenor.created_utc", created},
          {"tenor.model_type", info.config.model.type},
          {"tenor.model_members", std::to_string(info.config.model.members)},
          {"tenor.feature_set_version", meta.feature_set_version},
          {"tenor.functionals_version", meta.functionals_version},
          {"tenor.tokenizer_sha256", meta.tokenizer_sha256},
          {"tenor.tasks", tasks.dump()},
          {"tenor.calibration", eval::to_json(s.predictor.rules()).dump()},
          {"tenor.compliance", kCompliance},
          {"tenor.inputs", inputs_description(s)},
          {"tenor.features", features.dump()},
          {"tenor.config", s.config_yaml}};
}

/// The gate's cases and LibTorch's outputs on them, and the fixtures `verify` re-checks (the
/// first rows of the first batch and of each edge case; they pass the gate too).
struct ParityPlan {
  std::vector<OrtCase> gate, fixtures;
};

ParityPlan plan_parity(ExportSource& s, const ParityConfig& config) {
  auto cases = parity_cases(s.data, config);
  ParityPlan plan;
  plan.gate = reference_cases(s.predictor.run(), cases);
  for (size_t i = 0; i < plan.gate.size(); ++i)
    if (i == 0 || cases[i].edge) plan.fixtures.push_back(fixture_of(plan.gate[i], config.fixture_rows));
  for (auto f : plan.fixtures) {
    f.name = "fixture-" + f.name;
    plan.gate.push_back(std::move(f));
  }
  return plan;
}

/// Every case in ONNX Runtime against LibTorch: the parity report (parity.json).
json run_parity_gate(ExportSource& s, const fs::path& tmp, const ParityPlan& plan,
                     const ExportOptions& o) {
  const fs::path scratch = tmp / ".parity-scratch";
  write_cases(scratch, plan.gate);
  auto results = run_onnx_runtime(tmp / "model.onnx", scratch / "cases.json");
  fs::remove_all(scratch);
  // Both set by export_bundle (gate_of) before anything is built.
  json parity = compare_outputs(s.predictor.tasks(), s.predictor.rules(), plan.gate, results,
                                o.parity.tolerance.value(), o.parity.min_agreement.value());
  parity["quantize"] = quantize_name(o);
  // What `verify` holds the fixtures to: the decisions that differed on them here, per task.
  json fixture_disagreements = json::object();
  for (const auto& c : parity["cases"])
    if (c["name"].get<std::string>().rfind("fixture-", 0) == 0)
      for (const auto& [task, t] : c["tasks"].items())
        fixture_disagreements[task] = fixture_disagreements.value(task, int64_t(0)) +
                                      t["rows"].get<int64_t>() - t["decisions_agree"].get<int64_t>();
  parity["fixture_disagreements"] = fixture_disagreements;
  parity["ort_version"] = "onnxruntime-node (tools/ort)";
  parity["torch_version"] = compat::torch_version();
  parity["data"] = s.store_path;
  return parity;
}

/// A store built with a speech encoder: its model.bin into the bundle's speech-encoder/, where
/// `tenor predict --bundle` reads it (BundlePredictor::extractor_config), so that the bundle
/// scores audio on a machine without the fetch cache. Refused when the weights found are not
/// those the store was built with.
void copy_speech_encoder(const features::Store& store, const fs::path& tmp) {
  const json config = json::parse(store.meta.extractor_config, nullptr, false);
  if (!config.is_object() || !config.contains("speech_encoder")) return;
  const std::string name = config["speech_encoder"].value("name", "");
  const std::string sha = config["speech_encoder"].value("sha256", "");
  const fs::path from = features::resolve_speech_encoder(name, "the store's speech encoder") /
                        "model.bin";
  if (sha256_file(from) != sha)
    throw DataError(from.string() + " is not the speech encoder the store was built with "
                    "(SHA-256 " + sha.substr(0, 12) + "); fetch the same weights again "
                    "(tools/text-encoders/fetch.sh " + name + ") before exporting");
  fs::create_directories(tmp / kBundleSpeechEncoderDir);
  fs::copy_file(from, tmp / kBundleSpeechEncoderDir / "model.bin");
}

/// The bundle's files other than model.onnx, parity and the manifest.
void write_bundle_files(ExportSource& s, const fs::path& tmp, const ExportOptions& o,
                        const json& tasks, const json& features, const json& parity,
                        const std::string& created) {
  const auto& store = s.data->store;
  write_file_atomic(tmp / "config.yaml", s.config_yaml);
  write_file_atomic(tmp / "input_transform.json",
                    s.predictor.run().info.transform.to_json().dump(2));
  write_file_atomic(tmp / "shape.json", read_file(o.run / "shape.json"));
  write_file_atomic(tmp / "labels.json", json({{"tasks", tasks}}).dump(2));
  write_file_atomic(tmp / "calibration.json", eval::to_json(s.predictor.rules()).dump(2));
  write_file_atomic(tmp / "features.json", features.dump(2));
  if (!store.tokenizer_model.empty())
    write_file_atomic(tmp / "tokenizer.model", store.tokenizer_model);
  if (!s.predictor.run().info.transform.wordpiece_sha256.empty())  // model.text_encoder's
    write_file_atomic(tmp / "tokenizer.json",
                      read_file(o.run / train::kRunTextEncoderDir / "tokenizer.json"));
  copy_speech_encoder(store, tmp);
  // Without the worst errors: a bundle ships, and they quote the held-out calls' transcripts.
  if (s.report)
    write_file_atomic(tmp / "evaluation.json",
                      eval::to_json(*s.report, *s.eval_set, 0).dump(2));
  write_file_atomic(tmp / "model_card.md",
                    model_card({s.predictor.run().info, *s.data, s.predictor.rules(),
                                s.report ? &*s.report : nullptr, s.eval_split, parity,
                                created}));
}

json manifest_json(const fs::path& tmp, const ExportOptions& o, const std::string& created,
                   const json& parity, const ParityPlan& plan, const onnx::ModelProto& proto) {
  json files = json::object();
  for (const auto& f : bundle_files(tmp)) files[f] = sha256_file(tmp / f);
  return {{"format", "tenor-bundle-1"},
          {"tool_version", kVersion},
          {"git_commit", kGitCommit},
          {"created_utc", created},
          {"run", fs::absolute(o.run).string()},
          {"checkpoint", o.checkpoint},
          {"torch_version", compat::torch_version()},
          {"onnx_opset", kOpset},
          {"onnx_ir_version", kIrVersion},
          {"quantize", quantize_name(o)},
          {"parity_passed", parity["passed"]},
          {"files", files},
          // What verify checks beyond the checksums: the fixtures, the model's inputs/outputs.
          {"parity_fixtures", fixture_record(plan.fixtures)},
          {"model_io", model_io(proto)}};
}

/// A temporary directory beside the target (same file system, so a rename is atomic), removed
/// unless released; what killed exports of the target left there goes first.
struct TempDir {
  fs::path path;
  explicit TempDir(const fs::path& out) : path(temp_path_for_output(out)) {
    fs::create_directories(out.parent_path());
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

/// Writes the whole bundle into `tmp`: the graph, the parity gate, every file, the manifest.
/// Returns the parity report.
json write_bundle(ExportSource& s, const fs::path& tmp, const ExportOptions& o) {
  const std::string created = utc_now();
  const json tasks = tasks_json(s.predictor.run().info.shape, s.data->store);
  const json features = features_facts(s);
  auto props = graph_metadata(s, created, tasks, features);
  const ParityPlan plan = plan_parity(s, o.parity);
  props.push_back({"tenor.parity_fixtures", fixture_record(plan.fixtures).dump()});
  auto& run = s.predictor.run();
  props.push_back({"tenor.quantize", quantize_name(o)});
  GraphOptions graph;
  graph.int8_encoder = o.quantize == "int8";
  auto proto = build_onnx_model(*run.model, run.info.shape, run.info.config.model,
                                run.info.transform, props, graph);
  write_file_atomic(tmp / "model.onnx", serialize(proto));
  json parity = run_parity_gate(s, tmp, plan, o);
  write_cases(tmp / "parity", plan.fixtures);
  write_file_atomic(tmp / "parity.json", parity.dump(2));
  write_bundle_files(s, tmp, o, tasks, features, parity, created);
  write_file_atomic(tmp / "manifest.json",
                    manifest_json(tmp, o, created, parity, plan, proto).dump(2));
  return parity;
}

}  // namespace

ExportResult export_bundle(const ExportOptions& options) {
  auto log = logger("export");
  ExportOptions o = options;
  if (o.quantize == "none") o.quantize.clear();
  if (!o.quantize.empty() && o.quantize != "int8")
    throw UsageError("--quantize " + o.quantize + " is not a quantisation tenor knows; use int8 "
                     "(the text encoder's MatMuls) or none");
  // The gate, resolved once: a bad --tolerance or --min-agreement fails before any work.
  const ParityGate gate = gate_of(o.parity, o.quantize == "int8");
  o.parity.tolerance = gate.tolerance;
  o.parity.min_agreement = gate.min_agreement;
  const fs::path out = resolved_path(o.out);
  const BundleInput run_input{o.run, "the run being exported"};
  check_bundle_target(out, {run_input}, o.force);
  require_onnx_runtime();  // fail before the expensive steps, with the fix
  ExportSource s{train::RunPredictor(o.run, "cpu", o.checkpoint)};
  const auto& info = s.predictor.run().info;
  if (!o.quantize.empty() && !has_text_encoder(*s.predictor.run().model))
    throw UsageError("--quantize " + o.quantize + " quantises the pretrained text encoder "
                     "(model.text_encoder), but " + o.run.string() + " has none; export it "
                     "without --quantize");
  s.store_path = o.parity_data;
  if (s.store_path.empty()) {
    try {
      s.store_path = train::run_store(info);
    } catch (const DataError& e) {
      throw DataError(std::string(e.what()) + ", or gate the export on another store with a "
                      "dev split the run reads: --parity-data STORE");
    }
  }
  check_bundle_target(out, {run_input, {s.store_path, "the parity feature store"}}, o.force);
  s.data = std::make_shared<const train::TrainData>(
      s.predictor.prepare(features::read_store(s.store_path), s.store_path));
  s.config_yaml = read_file(o.run / "config.yaml");
  log->info("exporting {} ({} model, {} tasks) with parity data {}", o.run.string(),
            info.config.model.type, info.shape.tasks.size(), s.store_path);
  evaluate_held_out(s);

  TempDir tmp(out);
  const json parity = write_bundle(s, tmp.path, o);
  const bool passed = parity["passed"].get<bool>();
  const fs::path target = passed ? out : fs::path(out.string() + ".rejected");
  // A rejected bundle replaces an earlier rejected one (checked to be a bundle up front).
  install_bundle(tmp.path, target, o.force || !passed);
  tmp.path.clear();
  if (!passed)
    throw ExportError(parity_summary(parity) +
                      "; the export is refused; the rejected bundle "
                      "and its parity.json are at " +
                      target.string());
  log->info("{}", parity_summary(parity));
  log->info("bundle written to {}", target.string());
  return {target, parity};
}

json verify_bundle(const fs::path& bundle) {
  const json manifest = check_bundle_files(bundle);
  json report = {{"bundle", bundle.string()}, {"files", 0}};
  const auto& files = manifest.at("files");
  report["files"] = files.size();
  onnx::ModelProto proto;
  if (!proto.ParseFromString(read_file(bundle / "model.onnx")))
    throw ExportError(bundle.string() + "/model.onnx is not a valid ONNX protobuf");
  check_model(proto);
  check_model_matches_manifest(bundle, proto, manifest);
  double tolerance = 0, min_agreement = 1.0;
  std::map<std::string, int64_t> max_disagreements;  // int8: what the gate found on the fixtures
  std::vector<OrtCase> cases;
  try {
    const json recorded = json::parse(read_file(bundle / "parity.json"));
    tolerance = recorded.at("tolerance");
    min_agreement = recorded.value("min_agreement", 1.0);  // bundles before int8: 1
    if (min_agreement < 1.0)
      max_disagreements = recorded.at("fixture_disagreements").get<std::map<std::string, int64_t>>();
    cases = read_cases(bundle / "parity/cases.json");
  } catch (const json::exception& e) {
    throw ExportError(bundle.string() + ": parity.json or parity/cases.json is malformed (" +
                      e.what() + "); the bundle is damaged, export it again");
  }
  check_fixtures_match_manifest(bundle, cases, manifest);
  auto results = run_onnx_runtime(bundle / "model.onnx", bundle / "parity/cases.json");
  json parity =
      compare_outputs(read_tasks(bundle), read_rules(bundle), cases, results, tolerance,
                      min_agreement, min_agreement < 1.0 ? &max_disagreements : nullptr);
  report["parity"] = parity;
  if (!parity["passed"].get<bool>())
    throw ExportError(bundle.string() + ": " + parity_summary(parity));
  report["passed"] = true;
  return report;
}

}  // namespace tenor::onnx_export
