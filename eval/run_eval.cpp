#include "eval/run_eval.h"

#include <torch/torch.h>

#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_lock.h"
#include "core/log.h"
#include "core/text.h"
#include "eval/report.h"
#include "train/predict.h"

namespace tenor::eval {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// Predictions of an already loaded run on `split` of already loaded store data.
EvalSet eval_set_from(train::LoadedRun& run, const train::TrainData& data, const fs::path& store,
                      const std::string& split) {
  const auto& rows = split == "train"  ? data.train
                     : split == "dev"  ? data.dev
                     : split == "test" ? data.test
                                       : data.train;
  if (split != "train" && split != "dev" && split != "test")
    throw UsageError("--split must be train, dev or test, not '" + split + "'");
  if (rows.empty())
    throw DataError(store.string() + " has no labelled segment in split '" + split +
                    "'; assign splits with `tenor data split` and rebuild the store");
  auto pred = train::predict(run, data, rows);
  EvalSet set;
  for (int64_t r : rows) {
    const auto& s = data.store.segments[size_t(r)];
    set.segments.call_ids.push_back(s.call_id);
    set.segments.speakers.push_back(s.speaker);
    set.segments.start_s.push_back(s.start_s);
    set.segments.end_s.push_back(std::max(s.end_s, s.start_s));
    std::map<std::string, std::string> meta;
    json m = json::parse(s.meta, nullptr, false);
    if (m.is_object())
      for (auto& [k, v] : m.items())
        if (v.is_string()) meta[k] = v.get<std::string>();
    set.segments.meta.push_back(std::move(meta));
  }
  for (size_t k = 0; k < run.info.shape.tasks.size(); ++k) {
    const auto& spec = run.info.shape.tasks[k];
    TaskPredictions t;
    t.name = spec.name;
    t.type = spec.type;
    t.classes = data.store.task_classes.at(spec.name);
    const size_t column = size_t(data.task_columns[k]);
    for (int64_t r : rows) t.labels.push_back(data.store.segments[size_t(r)].labels[column]);
    auto p = pred.probs[k].contiguous();
    auto l = pred.log_probs[k].contiguous();
    t.probs.assign(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
    t.logits.assign(l.data_ptr<double>(), l.data_ptr<double>() + l.numel());
    set.tasks.push_back(std::move(t));
  }
  validate(set);
  return set;
}

/// A run's predictions on `split` and, when `split` is not dev, on the store's dev split
/// (which calibrates them); the run and the store are loaded once for both.
struct RunSets {
  EvalSet set;
  std::optional<EvalSet> dev;
};

RunSets run_sets(const fs::path& run_dir, const fs::path& store, const std::string& split,
                 const std::string& device) {
  auto run = train::load_run(run_dir, device);
  auto data = train::load_store_for_run(run.info, store.string());
  RunSets out{eval_set_from(run, data, store, split), std::nullopt};
  if (split != "dev") {
    try {
      out.dev = eval_set_from(run, data, store, "dev");
    } catch (const DataError&) {
      logger("eval")->warn(
          "{} has no dev split: {} is scored uncalibrated (temperature 1, threshold 0.5)",
          store.string(), run_dir.string());
    }
  }
  return out;
}

}  // namespace

EvalSet calibrated_eval_set_for_run(const fs::path& run_dir, const fs::path& store,
                                    const std::string& split, const std::string& device,
                                    std::map<std::string, double>& thresholds) {
  RunSets sets = run_sets(run_dir, store, split, device);
  EvalSet& set = sets.set;
  // evaluate() itself fits and applies the calibration, so compare scores exactly as the
  // report does; no bootstrap or timeline is needed for that.
  EvalConfig fit_only;
  fit_only.bootstrap.resamples = 0;
  fit_only.timeline_tasks.clear();
  const EvalReport fitted = evaluate(set, fit_only, sets.dev ? &*sets.dev : nullptr);
  for (size_t k = 0; k < set.tasks.size(); ++k) {
    set.tasks[k].probs = fitted.tasks[k].scored_probs;
    thresholds[set.tasks[k].name] = fitted.tasks[k].threshold;
  }
  return std::move(sets.set);
}

EvalSet only_call(const EvalSet& set, const std::string& call_id) {
  EvalSet out;
  std::vector<size_t> keep;
  for (size_t i = 0; i < set.segments.size(); ++i)
    if (set.segments.call_ids[i] == call_id) keep.push_back(i);
  if (keep.empty()) {
    std::set<std::string> unique(set.segments.call_ids.begin(), set.segments.call_ids.end());
    std::vector<std::string> ids(unique.begin(), unique.end());
    std::string near = nearest(call_id, ids);
    throw DataError("call '" + call_id + "' is not in this split" +
                    (near.empty() ? "" : "; did you mean '" + near + "'?"));
  }
  for (size_t i : keep) {
    out.segments.call_ids.push_back(set.segments.call_ids[i]);
    out.segments.speakers.push_back(set.segments.speakers[i]);
    out.segments.start_s.push_back(set.segments.start_s[i]);
    out.segments.end_s.push_back(set.segments.end_s[i]);
    out.segments.meta.push_back(set.segments.meta[i]);
  }
  for (const auto& t : set.tasks) {
    TaskPredictions c = t;
    c.labels.clear(), c.probs.clear(), c.logits.clear();
    const size_t k = t.num_classes();
    for (size_t i : keep) {
      c.labels.push_back(t.labels[i]);
      c.probs.insert(c.probs.end(), t.probs.begin() + long(i * k),
                     t.probs.begin() + long((i + 1) * k));
      if (!t.logits.empty())
        c.logits.insert(c.logits.end(), t.logits.begin() + long(i * k),
                        t.logits.begin() + long((i + 1) * k));
    }
    out.tasks.push_back(std::move(c));
  }
  return out;
}

json calibration_json(const EvalReport& report) {
  json tasks = json::object();
  for (const auto& t : report.tasks) {
    json j = {{"threshold", t.threshold}, {"threshold_source", t.threshold_source}};
    if (t.temperature) {
      j["temperature"] = t.temperature->temperature;
      j["temperature_at_bound"] = t.temperature->at_bound;
      j["dev_segments"] = t.temperature->n;
    } else {
      j["temperature"] = 1.0;
    }
    tasks[t.name] = j;
  }
  return {{"fitted_on", report.has_dev ? "dev" : "nothing (no dev split: defaults)"},
          {"tasks", tasks}};
}

EvalReport evaluate_run(const fs::path& run, const fs::path& store, const fs::path& out,
                        const RunEvalOptions& options) {
  // One evaluation per report directory: two into one --out would leave report.json of one
  // and report.html of the other. Taken before any work, so the second fails at once.
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec)
    throw IoError("cannot create the report directory " + out.string() + ": " + ec.message() +
                  "; choose an --out you can write");
  FileLock lock(out / ".lock", "the report directory " + out.string());
  auto [test, dev] = run_sets(run, store, options.split, options.device);
  EvalReport report = evaluate(test, options.config, dev ? &*dev : nullptr);
  json j = to_json(report);
  j["run"] = fs::absolute(run).string();
  j["store"] = fs::absolute(store).string();
  j["split"] = options.split;
  write_file_atomic(out / "report.json",
                    j.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  write_file_atomic(out / "report.html", to_html(report, test));
  if (dev) write_file_atomic(run / "calibration.json", calibration_json(report).dump(2) + "\n");
  if (options.timeline_call) {
    EvalSet call = only_call(test, *options.timeline_call);
    EvalConfig config = options.config;
    config.bootstrap.resamples = 0;
    EvalReport call_report = evaluate(call, config, dev ? &*dev : nullptr);
    write_file_atomic(out / ("timeline-" + *options.timeline_call + ".html"),
                      to_html(call_report, call, 1));
  }
  return report;
}

}  // namespace tenor::eval
