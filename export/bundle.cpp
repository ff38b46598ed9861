#include "export/bundle.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/torch_compat.h"
#include "core/version.h"
#include "data/features/store.h"
#include "eval/bootstrap.h"
#include "eval/evaluate.h"
#include "eval/report.h"
#include "export/bundle_checks.h"
#include "export/bundle_install.h"
#include "export/onnx_layers.h"

namespace tenor::onnx_export {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kCompliance =
    "EU AI Act art. 5(1)(f) prohibits AI systems that infer the emotions of a natural person "
    "in the workplace, except for medical or safety reasons; a contact-centre agent is at work. "
    "Tasks on the agent role must therefore not use the agent's voice (prosody, functionals): "
    "by default tenor gives them text only. The modalities each task and speaker role uses are "
    "listed in tenor.tasks.";

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string fmt(double v, int digits = 3) {
  if (std::isnan(v)) return "n/a";
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

std::vector<std::string> modalities(const train::TaskSpec& t) {
  std::vector<std::string> m;
  if (t.prosody) m.push_back("prosody");
  if (t.functionals) m.push_back("functionals");
  if (t.text) m.push_back("text");
  return m;
}

/// Labels of `rows` for each model task (-1: unlabelled).
std::vector<std::vector<int>> labels_of(const train::TrainData& d,
                                        const std::vector<int64_t>& rows) {
  std::vector<std::vector<int>> out(d.task_columns.size());
  for (size_t k = 0; k < d.task_columns.size(); ++k)
    for (int64_t r : rows)
      out[k].push_back(d.store.segments[size_t(r)].labels[size_t(d.task_columns[k])]);
  return out;
}

/// The evaluation set of a run's predictions on `rows`, for eval::evaluate.
eval::EvalSet eval_set(const train::TrainData& d, const std::vector<int64_t>& rows,
                       const train::Predictions& pred) {
  eval::EvalSet set;
  for (int64_t r : rows) {
    const auto& s = d.store.segments[size_t(r)];
    set.segments.call_ids.push_back(s.call_id);
    set.segments.speakers.push_back(s.speaker);
    set.segments.start_s.push_back(s.start_s);
    set.segments.end_s.push_back(s.end_s);
    std::map<std::string, std::string> meta;
    const json meta_json = json::parse(s.meta);
    for (const auto& [k, v] : meta_json.items())
      meta[k] = v.is_string() ? v.get<std::string>() : v.dump();
    set.segments.meta.push_back(meta);
  }
  auto labels = labels_of(d, rows);
  for (size_t k = 0; k < d.shape.tasks.size(); ++k) {
    const auto& t = d.shape.tasks[k];
    eval::TaskPredictions tp;
    tp.name = t.name;
    tp.type = t.type;
    tp.classes = d.store.task_classes.at(t.name);
    tp.labels = labels[k];
    auto p = pred.probs[k].contiguous();
    tp.probs.assign(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
    set.tasks.push_back(std::move(tp));
  }
  return set;
}

std::string model_card(const train::RunInfo& info, const train::TrainData& data,
                       const std::vector<TaskCalibration>& calib, const eval::EvalReport* report,
                       const std::string& eval_split, const json& parity) {
  std::ostringstream md;
  const auto& meta = data.store.meta;
  md << "# Model card: tenor " << info.config.model.type << " model\n\n"
     << "Exported by tenor " << kVersion << " (" << kGitCommit << ") on " << utc_now()
     << " from run `" << info.dir.filename().string() << "`.\n\n"
     << "## Intended use\n\n"
     << "Scores segments of recorded customer-service calls for the tasks below, to help "
        "supervisors find calls that escalate and review agents' empathy in text. It supports "
        "human review; it is not meant to make decisions about people on its own, and it is "
        "not an evaluation of any employee.\n\n"
     << "## Tasks and modalities per speaker role (compliance)\n\n"
     << "| task | type | speaker role | classes | modalities |\n|---|---|---|---|---|\n";
  bool agent_voice = false;
  for (const auto& t : info.shape.tasks) {
    std::string classes, mods;
    for (const auto& c : data.store.task_classes.at(t.name))
      classes += (classes.empty() ? "" : ", ") + c;
    for (const auto& m : modalities(t)) mods += (mods.empty() ? "" : ", ") + m;
    md << "| " << t.name << " | " << data::to_string(t.type) << " | " << t.speaker << " | "
       << classes << " | " << (mods.empty() ? "none" : mods) << " |\n";
    agent_voice |= t.speaker == "agent" && (t.prosody || t.functionals);
  }
  md << "\n" << kCompliance << "\n\n";
  if (info.config.model.type == "fusion" && info.config.model.use_text &&
      info.config.model.context_tokens > 0)
    md << "Text tasks also read the text (never the voice) of the segment before each one in its "
          "call, whoever spoke it: its first "
       << info.config.model.context_tokens << " tokens (`model.context_tokens`).\n\n";
  if (info.shape.text_embedding_dim > 0)
    md << "Text tasks also read a " << info.shape.text_embedding_dim
       << "-d sentence embedding of each segment's text from " << info.shape.text_encoder
       << " (`model.text_embedding`; graph input `text_embedding`): whoever runs this model "
          "must compute it with that same encoder (tools/sentence-embeddings/embed.sh).\n\n";
  if (agent_voice)
    md << "**Warning:** this model was trained with `model.agent_prosody: true`: an agent-role "
          "task uses the agent's voice. Do not deploy it where the EU AI Act applies.\n\n";
  md << "## Data\n\n"
     << "- Dataset: " << meta.dataset_name << " (fingerprint `"
     << meta.dataset_fingerprint.substr(0, 16) << "`)\n- Segments: " << data.train.size()
     << " train, " << data.dev.size() << " dev, " << data.test.size() << " test (labelled)\n"
     << "- Features: " << meta.feature_set_version << " LLDs (" << info.shape.lld_features
     << " columns), " << meta.functionals_version << " functionals ("
     << info.shape.functional_features << " columns), SentencePiece vocabulary "
     << info.shape.vocab_size << "\n\n";
  md << "## Metrics (" << eval_split << " split, call-bootstrap 95% intervals)\n\n";
  if (!report) {
    md << "No labelled held-out split was available; no metrics are reported.\n\n";
  } else {
    const int f1 = int(eval::Metric::kMacroF1), acc = int(eval::Metric::kAccuracy);
    md << "| task | n | macro-F1 [95% CI] | accuracy [95% CI] |\n|---|---|---|---|\n";
    for (const auto& t : report->tasks) {
      const auto& b = t.bootstrap;
      md << "| " << t.name << " | " << t.n_labelled << " | " << fmt(b.point[f1]) << " ["
         << fmt(b.intervals[f1].lo) << ", " << fmt(b.intervals[f1].hi) << "] | "
         << fmt(b.point[acc]) << " [" << fmt(b.intervals[acc].lo) << ", "
         << fmt(b.intervals[acc].hi) << "] |\n";
    }
    md << "\n### Per slice (macro-F1)\n\n| task | slice | n | calls | macro-F1 [95% CI] |\n"
          "|---|---|---|---|---|\n";
    for (const auto& t : report->tasks)
      for (const auto& s : t.slices)
        md << "| " << t.name << " | " << s.field << "=" << s.value << " | " << s.n_labelled << " | "
           << s.n_calls << " | " << fmt(s.macro_f1) << " [" << fmt(s.interval.lo) << ", "
           << fmt(s.interval.hi) << "]" << (s.outside_overall ? " (outside overall)" : "")
           << " |\n";
    md << "\nSmall splits give wide intervals; a slice outside the overall interval deserves "
          "a look before release.\n\n";
  }
  md << "## Calibration\n\n"
     << "Probabilities are calibrated by temperature scaling fitted on dev (Guo et al. 2017): "
        "p_cal = softmax(log(p) / T). Binary tasks decide class 1 when p_cal[1] >= threshold "
        "(the dev-F1-optimal threshold); other tasks take the arg max.\n\n"
     << "| task | temperature | threshold | fitted on | ECE raw | ECE calibrated |\n"
        "|---|---|---|---|---|---|\n";
  for (size_t k = 0; k < info.shape.tasks.size(); ++k) {
    const auto& t = info.shape.tasks[k];
    std::string ece_raw = "n/a", ece_cal = "n/a";
    if (report)
      for (const auto& r : report->tasks)
        if (r.name == t.name) {
          ece_raw = fmt(r.calibration.ece);
          if (r.calibration_scaled) ece_cal = fmt(r.calibration_scaled->ece);
        }
    md << "| " << t.name << " | " << fmt(calib[k].temperature, 4) << " | "
       << (t.type == data::TaskType::kBinary ? fmt(calib[k].threshold, 4) : "arg max") << " | "
       << calib[k].source << " | " << ece_raw << " | " << ece_cal << " |\n";
  }
  md << "\n## Export parity\n\n"
     << parity_summary(parity) << " (ONNX Runtime CPU vs LibTorch " << compat::torch_version()
     << "; report in parity.json).\n\n"
     << "## Limitations\n\n"
     << "- Trained on " << meta.dataset_name
     << " only: accents, languages, channels and "
        "call types not in it are untested; check the slices above for your population.\n"
     << "- Prosody features depend on the audio chain (codec, automatic gain control); "
        "features must come from the same extractor version ("
     << meta.feature_set_version << ") and configuration (features.json).\n"
     << "- Text features depend on the transcripts' ASR quality and on the bundled "
        "SentencePiece model (tokenizer.model).\n"
     << "- Scores are per segment; call-level decisions need an aggregation policy of your "
        "own.\n";
  return md.str();
}

json tasks_json(const train::ModelShape& shape, const features::Store& store) {
  json tasks = json::array();
  for (const auto& t : shape.tasks)
    tasks.push_back({{"name", t.name},
                     {"type", data::to_string(t.type)},
                     {"speaker", t.speaker},
                     {"classes", store.task_classes.at(t.name)},
                     {"modalities", modalities(t)},
                     {"output", prob_output_name(t.name)}});
  return tasks;
}

json calibration_json(const std::vector<train::TaskSpec>& tasks,
                      const std::vector<TaskCalibration>& calib) {
  json j = json::object();
  for (size_t k = 0; k < tasks.size(); ++k) {
    j[tasks[k].name] = {{"temperature", calib[k].temperature}, {"fitted_on", calib[k].source}};
    if (tasks[k].type == data::TaskType::kBinary)
      j[tasks[k].name]["threshold"] = calib[k].threshold;
  }
  return j;
}

/// calibration_json's inverse, in the order of `tasks`.
std::vector<TaskCalibration> calibration_from_json(const json& j,
                                                   const std::vector<train::TaskSpec>& tasks) {
  std::vector<TaskCalibration> out;
  for (const auto& t : tasks) {
    TaskCalibration c;
    const auto& jt = j.at(t.name);
    c.temperature = jt.at("temperature");
    c.source = jt.at("fitted_on");
    c.threshold = jt.value("threshold", 0.5);
    out.push_back(c);
  }
  return out;
}

/// A unique hidden directory name beside `out` (same file system, so a rename is atomic).
fs::path temp_beside(const fs::path& out) {
  std::random_device rd;
  return out.parent_path() / ("." + out.filename().string() + ".tmp-" + std::to_string(::getpid()) +
                              "-" + std::to_string(rd()));
}

}  // namespace

std::vector<TaskCalibration> run_calibration(train::LoadedRun& run, const train::TrainData& data) {
  auto dev = train::predict(run, data, data.dev);
  return fit_calibration(run.info.shape.tasks, dev, labels_of(data, data.dev));
}

std::vector<TaskCalibration> cached_run_calibration(train::LoadedRun& run,
                                                    const train::TrainData& data,
                                                    const std::string& checkpoint) {
  auto log = logger("predict");
  const fs::path cache = run.info.dir / "predict-calibration.json";
  // The tool's version too: another version may fit the calibration differently.
  const json key = {{"checkpoint_sha256", sha256_file(run.info.dir / checkpoint)},
                    {"store_sha256", features::content_sha256(data.store)},
                    {"tool_version", std::string(kVersion) + " (" + kGitCommit + ")"}};
  json entries = json::object();
  std::error_code ec;
  if (fs::exists(cache, ec)) {
    try {
      entries = json::parse(read_file(cache));
      if (entries.contains(checkpoint)) {
        const json& e = entries.at(checkpoint);
        if (e.at("key") == key) {
          log->debug("calibration of {} from {}", checkpoint, cache.string());
          return calibration_from_json(e.at("tasks"), run.info.shape.tasks);
        }
      }
    } catch (const std::exception& e) {  // a damaged cache is refitted and replaced
      log->warn("{} is unreadable ({}); fitting the calibration again", cache.string(), e.what());
      entries = json::object();
    }
  }
  auto calib = run_calibration(run, data);
  entries[checkpoint] = {{"key", key}, {"tasks", calibration_json(run.info.shape.tasks, calib)}};
  try {
    write_file_atomic(cache, entries.dump(2) + "\n");
  } catch (const std::exception& e) {  // a read-only run still predicts, only slower
    log->warn("could not cache the calibration in {} ({}); it is fitted again on every call",
              cache.string(), e.what());
  }
  return calib;
}

ExportResult export_bundle(const ExportOptions& o) {
  auto log = logger("export");
  const fs::path out = resolved(o.out);
  const BundleInput run_input{o.run, "the run being exported"};
  check_bundle_target(out, {run_input}, o.force);
  require_onnx_runtime();  // fail before the expensive steps, with the fix
  train::LoadedRun run = train::load_run(o.run, "cpu", o.checkpoint);
  const auto& info = run.info;
  const std::string store_path = o.parity_data.empty() ? info.config.features : o.parity_data;
  check_bundle_target(out, {run_input, {store_path, "the parity feature store"}}, o.force);
  auto data = std::make_shared<train::TrainData>(train::load_store_for_run(info, store_path));
  log->info("exporting {} ({} model, {} tasks) with parity data {}", o.run.string(),
            info.config.model.type, info.shape.tasks.size(), store_path);

  // Calibration (dev) and the held-out evaluation for the model card (test, else dev).
  auto dev_pred = train::predict(run, *data, data->dev);
  auto calib = fit_calibration(info.shape.tasks, dev_pred, labels_of(*data, data->dev));
  std::optional<eval::EvalReport> report;
  std::string eval_split = data->test.empty() ? "dev" : "test";
  eval::EvalConfig eval_config;
  eval_config.timeline_tasks.clear();
  if (!data->test.empty() || !data->dev.empty()) {
    const auto& rows = data->test.empty() ? data->dev : data->test;
    auto test_set = eval_set(*data, rows, train::predict(run, *data, rows));
    auto dev_set = eval_set(*data, data->dev, dev_pred);
    try {
      report = eval::evaluate(test_set, eval_config,
                              data->test.empty() || data->dev.empty() ? nullptr : &dev_set);
    } catch (const DataError& e) {
      log->warn("dev calibration in the evaluation failed ({}); evaluating without it", e.what());
      report = eval::evaluate(test_set, eval_config, nullptr);
    }
  }

  // The graph, with the key facts in metadata_props.
  const auto& meta = data->store.meta;
  json tasks = tasks_json(info.shape, data->store);
  json features_j = {
      {"feature_set_version", meta.feature_set_version},
      {"functionals_version", meta.functionals_version},
      {"extractor_config",
       json::parse(meta.extractor_config.empty() ? std::string("{}") : meta.extractor_config)},
      {"lld_columns", data->store.layout.lld_columns},
      {"functional_columns", data->store.layout.functional_columns},
      {"tokenizer_sha256", meta.tokenizer_sha256},
      {"max_frames", info.config.model.max_frames},
      {"max_tokens", info.config.model.max_tokens},
      {"context_tokens", run.model->context_tokens()},
      {"text_embedding_dim", info.shape.text_embedding_dim},
      {"text_encoder", info.shape.text_encoder},
      {"normalize_loudness", info.config.normalize_loudness}};
  const std::string created = utc_now();
  const std::string config_yaml = read_file(o.run / "config.yaml");
  std::vector<std::pair<std::string, std::string>> props = {
      {"tenor.version", kVersion},
      {"tenor.git_commit", kGitCommit},
      {"tenor.created_utc", created},
      {"tenor.model_type", info.config.model.type},
      {"tenor.feature_set_version", meta.feature_set_version},
      {"tenor.functionals_version", meta.functionals_version},
      {"tenor.tokenizer_sha256", meta.tokenizer_sha256},
      {"tenor.tasks", tasks.dump()},
      {"tenor.calibration", calibration_json(info.shape.tasks, calib).dump()},
      {"tenor.compliance", kCompliance},
      {"tenor.inputs",
       "raw feature-store values: frames [B,T,F_lld] float, frame_len [B] int64, functionals "
       "[B,F] float, func_mask [B,F] float 0/1, tokens [B,L] int64, token_len [B] int64" +
           std::string(run.model->context_tokens() > 0
                           ? ", ctx_tokens [B,C] int64 and ctx_len [B] int64 (the previous "
                             "segment's tokens in the call)"
                           : "") +
           std::string(info.shape.text_embedding_dim > 0
                           ? ", text_embedding [B," +
                                 std::to_string(info.shape.text_embedding_dim) +
                                 "] float (each segment's sentence embedding from " +
                                 info.shape.text_encoder + ")"
                           : "") +
           "; normalised inside the graph with the run's input_transform.json"},
      {"tenor.features", features_j.dump()},
      {"tenor.config", config_yaml}};
  // LibTorch's reference outputs of the parity cases; the fixtures `verify` re-checks are
  // stamped into the model too, so that removing some fails verify (docs/export.md).
  auto cases = parity_cases(data, o.parity);
  auto refs = reference_cases(run, cases);
  std::vector<OrtCase> fixtures;
  for (size_t i = 0; i < refs.size(); ++i)
    if (i == 0 || cases[i].edge) fixtures.push_back(fixture_of(refs[i], o.parity.fixture_rows));
  props.push_back({"tenor.parity_fixtures", fixture_record(fixtures).dump()});
  auto proto = build_onnx_model(*run.model, info.shape, info.config.model, info.transform, props);

  // Bundle in a temporary directory beside the target.
  fs::create_directories(out.parent_path());
  const fs::path tmp = temp_beside(out);
  fs::create_directories(tmp);
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      if (!p.empty()) fs::remove_all(p, ec);
    }
  } cleanup{tmp};
  write_file_atomic(tmp / "model.onnx", serialize(proto));

  // Parity gate: every case in ONNX Runtime. The bundle keeps the first rows of the edge
  // cases and of the first dev batch as fixtures for `verify`; they pass the gate too.
  auto gate = refs;
  for (auto f : fixtures) {
    f.name = "fixture-" + f.name;
    gate.push_back(std::move(f));
  }
  const fs::path scratch = tmp / ".parity-scratch";
  write_cases(scratch, gate);
  auto results = run_onnx_runtime(tmp / "model.onnx", scratch / "cases.json");
  fs::remove_all(scratch);
  json parity = compare_outputs(info.shape.tasks, calib, gate, results, o.parity.tolerance);
  parity["ort_version"] = "onnxruntime-node (tools/ort)";
  parity["torch_version"] = compat::torch_version();
  parity["data"] = store_path;
  write_cases(tmp / "parity", fixtures);
  write_file_atomic(tmp / "parity.json", parity.dump(2));

  // The rest of the bundle.
  write_file_atomic(tmp / "config.yaml", config_yaml);
  write_file_atomic(tmp / "input_transform.json", info.transform.to_json().dump(2));
  write_file_atomic(tmp / "shape.json", read_file(o.run / "shape.json"));
  write_file_atomic(tmp / "labels.json", json({{"tasks", tasks}}).dump(2));
  write_file_atomic(tmp / "calibration.json", calibration_json(info.shape.tasks, calib).dump(2));
  write_file_atomic(tmp / "features.json", features_j.dump(2));
  if (!data->store.tokenizer_model.empty())
    write_file_atomic(tmp / "tokenizer.model", data->store.tokenizer_model);
  if (report) write_file_atomic(tmp / "evaluation.json", eval::to_json(*report).dump(2));
  write_file_atomic(
      tmp / "model_card.md",
      model_card(info, *data, calib, report ? &*report : nullptr, eval_split, parity));
  json files = json::object();
  for (const auto& f : bundle_files(tmp)) files[f] = sha256_file(tmp / f);
  json manifest = {{"format", "tenor-bundle-1"},
                   {"tool_version", kVersion},
                   {"git_commit", kGitCommit},
                   {"created_utc", created},
                   {"run", fs::absolute(o.run).string()},
                   {"checkpoint", o.checkpoint},
                   {"torch_version", compat::torch_version()},
                   {"onnx_opset", kOpset},
                   {"onnx_ir_version", kIrVersion},
                   {"parity_passed", parity["passed"]},
                   {"files", files}};
  // What verify checks beyond the checksums: the fixtures written, the model's inputs/outputs.
  manifest["parity_fixtures"] = fixture_record(fixtures);
  manifest["model_io"] = model_io(proto);
  write_file_atomic(tmp / "manifest.json", manifest.dump(2));

  const bool passed = parity["passed"].get<bool>();
  const fs::path target = passed ? out : fs::path(out.string() + ".rejected");
  // A rejected bundle replaces an earlier rejected one (checked to be a bundle up front).
  install_bundle(tmp, target, o.force || !passed);
  cleanup.p.clear();
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
  if (!fs::exists(bundle / "manifest.json"))
    throw ExportError(bundle.string() + " has no manifest.json; is it a `tenor export` bundle?");
  json manifest;
  try {
    manifest = json::parse(read_file(bundle / "manifest.json"));
  } catch (const json::parse_error& e) {
    throw ExportError(bundle.string() + "/manifest.json is not valid JSON (" + e.what() +
                      "); the bundle is damaged, export it again");
  }
  if (!is_bundle_manifest(manifest))
    throw ExportError(bundle.string() + "/manifest.json is not a tenor bundle's (format " +
                      "tenor-bundle-1 with its files); is it a `tenor export` bundle?");
  json report = {{"bundle", bundle.string()}, {"files", 0}};
  const auto& files = manifest.at("files");
  for (const auto& [name, sum] : files.items()) {
    if (!fs::exists(bundle / name))
      throw ExportError(bundle.string() + ": " + name +
                        " is listed in manifest.json but "
                        "missing; the bundle is incomplete, export it again");
    std::string actual = sha256_file(bundle / name);
    if (actual != sum.get<std::string>())
      throw ExportError(bundle.string() + ": " + name + " has SHA-256 " + actual.substr(0, 16) +
                        "..., manifest.json says " + sum.get<std::string>().substr(0, 16) +
                        "...; the file was changed after export, do not ship this bundle");
  }
  for (const auto& f : bundle_files(bundle))
    if (f != "manifest.json" && !files.contains(f))
      throw ExportError(bundle.string() + ": " + f +
                        " is not listed in manifest.json; a file was "
                        "added after export, do not ship this bundle");
  report["files"] = files.size();
  onnx::ModelProto proto;
  if (!proto.ParseFromString(read_file(bundle / "model.onnx")))
    throw ExportError(bundle.string() + "/model.onnx is not a valid ONNX protobuf");
  check_model(proto);
  check_model_matches_manifest(bundle, proto, manifest);
  double tolerance = 0;
  std::vector<OrtCase> cases;
  try {
    tolerance = json::parse(read_file(bundle / "parity.json")).at("tolerance");
    cases = read_cases(bundle / "parity/cases.json");
  } catch (const json::exception& e) {
    throw ExportError(bundle.string() + ": parity.json or parity/cases.json is malformed (" +
                      e.what() + "); the bundle is damaged, export it again");
  }
  check_fixtures_match_manifest(bundle, cases, manifest);
  auto results = run_onnx_runtime(bundle / "model.onnx", bundle / "parity/cases.json");
  json parity =
      compare_outputs(read_tasks(bundle), read_calibration(bundle), cases, results, tolerance);
  report["parity"] = parity;
  if (!parity["passed"].get<bool>())
    throw ExportError(bundle.string() + ": " + parity_summary(parity));
  report["passed"] = true;
  return report;
}

std::vector<train::TaskSpec> read_tasks(const fs::path& bundle) {
  const fs::path shape = bundle / "shape.json";
  auto tasks = train::shape_from_json(json::parse(read_file(shape)), shape.string()).tasks;
  const json labels = json::parse(read_file(bundle / "labels.json"));
  for (auto& t : tasks)
    for (const auto& l : labels.at("tasks"))
      if (t.classes.empty() && l.at("name") == t.name) l.at("classes").get_to(t.classes);
  return tasks;
}

train::StoreContract store_contract(const fs::path& bundle) {
  const json facts = json::parse(read_file(bundle / "features.json"));
  train::StoreContract c;
  c.model = "bundle " + bundle.string();
  const fs::path shape = bundle / "shape.json";
  c.shape = train::shape_from_json(json::parse(read_file(shape)), shape.string());
  c.shape.tasks = read_tasks(bundle);
  c.tokenizer_sha256 = facts.at("tokenizer_sha256");
  c.feature_set_version = facts.at("feature_set_version");
  c.functionals_version = facts.at("functionals_version");
  return c;
}

std::vector<TaskCalibration> read_calibration(const fs::path& bundle) {
  return calibration_from_json(json::parse(read_file(bundle / "calibration.json")),
                               read_tasks(bundle));
}

std::vector<int64_t> call_rows(const features::Store& store, const std::string& call_id) {
  std::vector<int64_t> rows;
  for (size_t r = 0; r < store.segments.size(); ++r)
    if (store.segments[r].call_id == call_id) rows.push_back(int64_t(r));
  if (rows.empty())
    throw DataError("call '" + call_id +
                    "' is not in the feature store; pass a call id the "
                    "store holds (tenor data build the call first)");
  std::sort(rows.begin(), rows.end(), [&](int64_t a, int64_t b) {
    return store.segments[size_t(a)].segment < store.segments[size_t(b)].segment;
  });
  return rows;
}

json segment_scores(const features::Store& store, const std::vector<int64_t>& rows,
                    const std::vector<train::TaskSpec>& tasks,
                    const std::vector<TaskCalibration>& calib,
                    const std::vector<HostTensor>& probs) {
  json segs = json::array();
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& s = store.segments[size_t(rows[i])];
    json jt = json::object();
    for (size_t k = 0; k < tasks.size(); ++k) {
      const auto& t = tasks[k];
      if (t.speaker != s.speaker) continue;  // a task is defined on its role's segments only
      const float* p = probs[k].f32() + i * size_t(t.num_classes);
      std::vector<double> raw(p, p + t.num_classes);
      const auto& classes = store.task_classes.at(t.name);
      const int d = decide(t, p, calib[k]);
      jt[t.name] = {{"probs", raw},
                    {"calibrated", calibrate(p, t.num_classes, calib[k])},
                    {"decision", classes.at(size_t(d))}};
    }
    segs.push_back({{"segment", s.segment},
                    {"speaker", s.speaker},
                    {"start_s", s.start_s},
                    {"end_s", s.end_s},
                    {"tasks", jt}});
  }
  return segs;
}

}  // namespace tenor::onnx_export
