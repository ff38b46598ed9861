#include "eval/run_eval.h"

#include <torch/torch.h>

#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_lock.h"
#include "core/log.h"
#include "core/text.h"
#include "eval/report.h"
#include "data/features/store.h"
#include "train/predictor.h"

namespace tenor::eval {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::vector<int64_t>& split_rows(const train::TrainData& data, const std::string& split) {
  if (split == "train") return data.train;
  if (split == "dev") return data.dev;
  if (split == "test") return data.test;
  throw UsageError("--split must be train, dev or test, not '" + split + "'");
}

/// A run's predictions on `split` of `store`, and the decision rules they are scored with:
/// the run's own (fitted on its dev split when training ended), or with
/// `calibration` "dev" fitted on the dev split of `store`.
struct RunSet {
  EvalSet set;
  DecisionRules rules;
};

RunSet run_set(const fs::path& run_dir, const fs::path& store, const std::string& split,
               const std::string& device, const std::string& calibration) {
  if (calibration != "run" && calibration != "dev")
    throw UsageError("--calibration must be run or dev, not '" + calibration + "'");
  train::RunPredictor predictor(run_dir, device);
  const train::TrainData data = predictor.prepare(features::read_store(store), store.string());
  const auto& rows = split_rows(data, split);
  if (rows.empty())
    throw DataError(store.string() + " has no labelled segment in split '" + split +
                    "'; assign splits with `tenor data split` and rebuild the store");
  RunSet out{train::eval_set(predictor, data, rows), predictor.rules()};
  if (calibration == "dev") out.rules = train::fit_rules(predictor, data, store.string());
  return out;
}

}  // namespace

EvalSet calibrated_eval_set_for_run(const fs::path& run_dir, const fs::path& store,
                                    const std::string& split, const std::string& device,
                                    std::map<std::string, double>& thresholds) {
  RunSet run = run_set(run_dir, store, split, device, "run");
  // The probabilities and thresholds evaluate() scores with (eval::calibrate, the rule's
  // threshold), so compare's metrics are the reports'.
  for (auto& t : run.set.tasks) {
    const TaskRule* rule = run.rules.find(t.name);
    if (!rule) throw DataError("the decision rules of " + run_dir.string() + " lack task " + t.name);
    t.probs = calibrate(t.probs, t.num_classes(), *rule);
    const bool fitted = rule->temperature_fit && t.type == data::TaskType::kBinary;
    thresholds[t.name] = fitted ? rule->threshold : 0.5;
  }
  return std::move(run.set);
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
  auto [test, rules] = run_set(run, store, options.split, options.device, options.calibration);
  EvalReport report = evaluate(test, options.config, &rules);
  json j = to_json(report);
  j["run"] = fs::absolute(run).string();
  j["store"] = fs::absolute(store).string();
  j["split"] = options.split;
  j["calibration"] = options.calibration;
  write_file_atomic(out / "report.json",
                    j.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  write_file_atomic(out / "report.html", to_html(report, test));
  if (options.timeline_call) {
    EvalSet call = only_call(test, *options.timeline_call);
    EvalConfig config = options.config;
    config.bootstrap.resamples = 0;
    EvalReport call_report = evaluate(call, config, &rules);
    write_file_atomic(out / ("timeline-" + *options.timeline_call + ".html"),
                      to_html(call_report, call, 1));
  }
  return report;
}

}  // namespace tenor::eval
