#include "train/predictor.h"

#include <torch/torch.h>

#include <algorithm>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sha256.h"

namespace tenor::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// The call's `meta` JSON as slicing fields: string values only; malformed meta gives none.
std::map<std::string, std::string> slice_meta(const std::string& meta) {
  std::map<std::string, std::string> out;
  const json m = json::parse(meta, nullptr, false);
  if (m.is_object())
    for (const auto& [k, v] : m.items())
      if (v.is_string()) out[k] = v.get<std::string>();
  return out;
}

}  // namespace

TrainData Predictor::prepare(features::Store store, const std::string& store_name) const {
  return inference_data(std::move(store), store_name, contract_, transform_);
}

eval::EvalSet eval_set(Predictor& predictor, const TrainData& data,
                       const std::vector<int64_t>& rows) {
  return eval_set(predictor, data, rows, predictor.probabilities(data, rows));
}

eval::EvalSet eval_set(const Predictor& predictor, const TrainData& data,
                       const std::vector<int64_t>& rows, TaskProbabilities probs) {
  eval::EvalSet set;
  for (int64_t r : rows) {
    const auto& s = data.store.segments[size_t(r)];
    set.segments.call_ids.push_back(s.call_id);
    set.segments.speakers.push_back(s.speaker);
    set.segments.start_s.push_back(s.start_s);
    set.segments.end_s.push_back(std::max(s.end_s, s.start_s));
    set.segments.meta.push_back(slice_meta(s.meta));
  }
  const auto& tasks = predictor.tasks();
  for (size_t k = 0; k < tasks.size(); ++k) {
    eval::TaskPredictions t;
    t.name = tasks[k].name;
    t.type = tasks[k].type;
    t.classes = data.store.task_classes.at(t.name);
    const size_t column = size_t(data.task_columns[k]);
    for (int64_t r : rows) t.labels.push_back(data.store.segments[size_t(r)].labels[column]);
    t.probs = std::move(probs[k]);
    set.tasks.push_back(std::move(t));
  }
  eval::validate(set);
  return set;
}

eval::DecisionRules fit_rules(Predictor& predictor, const TrainData& data,
                              const std::string& store_name) {
  if (data.dev.empty()) {
    logger("eval")->warn("{} has no labelled dev segment: scores stay uncalibrated "
                         "(temperature 1, threshold 0.5)",
                         store_name);
    return eval::default_rules(eval_set(predictor, data, {}), "nothing: " + store_name +
                                                                  " has no dev split");
  }
  return eval::fit_decision_rules(eval_set(predictor, data, data.dev),
                                  "dev split of " + store_name);
}

json segment_scores(const Predictor& predictor, const TrainData& data,
                    const std::vector<int64_t>& rows, const TaskProbabilities& probs) {
  const auto& tasks = predictor.tasks();
  json segs = json::array();
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& s = data.store.segments[size_t(rows[i])];
    json jt = json::object();
    for (size_t k = 0; k < tasks.size(); ++k) {
      const auto& t = tasks[k];
      if (t.speaker != s.speaker) continue;  // a task is defined on its role's segments only
      const size_t c = size_t(t.num_classes);
      const std::span<const double> raw(probs[k].data() + i * c, c);
      const eval::TaskRule* rule = predictor.rules().find(t.name);
      if (!rule) throw std::logic_error("segment_scores: no decision rule for " + t.name);
      const std::vector<double> calibrated = eval::calibrate(raw, c, *rule);
      const int d = eval::decide(calibrated, *rule);
      jt[t.name] = {{"probs", std::vector<double>(raw.begin(), raw.end())},
                    {"calibrated", calibrated},
                    {"decision", data.store.task_classes.at(t.name).at(size_t(d))}};
    }
    segs.push_back({{"segment", s.segment},
                    {"speaker", s.speaker},
                    {"start_s", s.start_s},
                    {"end_s", s.end_s},
                    {"tasks", jt}});
  }
  return segs;
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

// --- RunPredictor ----------------------------------------------------------------------

namespace {

constexpr const char* kRulesFile = "calibration.json";

/// True when `rules` hold a rule of the same type for every task.
bool covers(const eval::DecisionRules& rules, const std::vector<TaskSpec>& tasks) {
  return std::all_of(tasks.begin(), tasks.end(), [&](const TaskSpec& t) {
    const eval::TaskRule* r = rules.find(t.name);
    return r && r->type == t.type;
  });
}

/// The rules saved in RUN/calibration.json for `checkpoint`, when that file holds them for
/// this very checkpoint file (its SHA-256) and every task; nothing otherwise (an older run,
/// another checkpoint, a calibration.json written by the `tenor eval` of earlier versions,
/// or a damaged one, which is named in a warning).
std::optional<eval::DecisionRules> saved_rules(const fs::path& dir, const std::string& checkpoint,
                                               const std::vector<TaskSpec>& tasks) {
  const fs::path file = dir / kRulesFile;
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  const json j = json::parse(read_file(file), nullptr, false);
  if (!j.is_object()) {
    logger("eval")->warn("{} is not a JSON object (damaged or cut short); it is ignored",
                         file.string());
    return std::nullopt;
  }
  if (!j.contains("format") || j.value("checkpoint", "") != checkpoint ||
      j.value("checkpoint_sha256", "") != sha256_file(dir / checkpoint))
    return std::nullopt;
  try {
    eval::DecisionRules rules = eval::rules_from_json(j, file.string());
    if (covers(rules, tasks)) return rules;
    logger("eval")->warn("{} lacks a rule for a task of the run; it is ignored", file.string());
  } catch (const DataError& e) {
    logger("eval")->warn("{}; it is ignored", e.what());
  }
  return std::nullopt;
}

}  // namespace

RunPredictor::RunPredictor(const fs::path& dir, const std::string& device,
                           const std::string& checkpoint, const TrainData* own,
                           const DegradedCopies* copies)
    : run_(load_run(dir, device, checkpoint)), checkpoint_(checkpoint) {
  contract_ = store_contract(run_.info);
  transform_ = run_.info.transform;
  if (auto saved = saved_rules(dir, checkpoint, tasks())) {
    rules_ = std::move(*saved);
    return;
  }
  const std::string store = run_.info.config.features;
  if (own) {
    rules_ = copies && !copies->empty() && !own->dev.empty() ? pooled_rules(*own, *copies)
                                                             : fit_rules(*this, *own, store);
    return;
  }
  logger("eval")->warn(
      "{} holds no decision rules for {} (runs save them in calibration.json when training "
      "ends; older runs and other checkpoints have none): fitting them on the dev split of "
      "the run's store {} now, for this command only{}{}",
      dir.string(), checkpoint, store,
      run_.info.config.calibration == "degraded"
          ? " (without the degraded dev copies the run's `calibration: degraded` pools in: "
            "they exist only while training runs)"
          : "",
      checkpoint == "best.pt" ? " (`tenor train --config " + (dir / "config.yaml").string() +
                                    "` saves them into the finished run without training)"
                              : std::string());
  rules_ = fit_rules(*this, prepare(features::read_store(run_store(run_.info)), store), store);
}

namespace {

TaskProbabilities host_probabilities(const Predictions& pred) {
  TaskProbabilities out;
  for (const auto& p : pred.probs) {
    auto c = p.contiguous();
    out.emplace_back(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  }
  return out;
}

}  // namespace

TaskProbabilities RunPredictor::probabilities(const TrainData& data,
                                              const std::vector<int64_t>& rows) {
  return host_probabilities(predict(run_, data, rows));
}

eval::DecisionRules RunPredictor::pooled_rules(const TrainData& own,
                                               const DegradedCopies& copies) {
  eval::EvalSet pooled = eval_set(*this, own, own.dev);
  std::string names;
  for (const auto& [name, copy] : copies) {
    for (int64_t row : own.dev)
      if (!copy.contains(row))
        throw std::logic_error("pooled_rules: dev row " + std::to_string(row) +
                               " is not in the " + name + " copy");
    eval::append(pooled, eval_set(*this, own, own.dev,
                                  host_probabilities(predict(run_, own, own.dev, 64, &copy))));
    names += (names.empty() ? "" : ", ") + name;
  }
  return eval::fit_decision_rules(pooled, "dev split of " + run_.info.config.features +
                                              " and its degraded copies (" + names + ")");
}

namespace {

/// What `read` takes from the run's store (its attributes or its tokenizer, not its tables); a
/// store that cannot be read is named as the run's.
template <class Read>
auto read_run_store(const RunInfo& run, Read read) {
  const std::string& path = run_store(run);
  try {
    return read(path);
  } catch (const DataError& e) {
    throw DataError("run " + run.dir.string() + " reads its extractor settings and tokenizer "
                    "from the feature store it was trained on, which cannot be read (" +
                    e.what() + "); put an intact copy of " + path + " back");
  }
}

}  // namespace

json RunPredictor::extractor_config() {
  const std::string text = read_run_store(run_.info, [](const std::string& path) {
    return features::read_store_meta(path).extractor_config;
  });
  return json::parse(text.empty() ? std::string("{}") : text);
}

std::string RunPredictor::tokenizer_model() {
  return read_run_store(run_.info, features::read_store_tokenizer);
}

void RunPredictor::save_rules() const {
  const fs::path dir = run_.info.dir;
  json j = eval::to_json(rules_);
  j["checkpoint"] = checkpoint_;
  j["checkpoint_sha256"] = sha256_file(dir / checkpoint_);
  write_file_atomic(dir / kRulesFile, j.dump(2) + "\n");
}

}  // namespace tenor::train
