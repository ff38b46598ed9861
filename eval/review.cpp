#include "eval/review.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_lock.h"
#include "core/log.h"
#include "core/text.h"
#include "core/temporary_path.h"
#include "core/torch_compat.h"
#include "data/agreement.h"
#include "data/audio.h"
#include "data/features/build.h"
#include "data/features/store.h"
#include "data/split.h"
#include "eval/confident_learning.h"
#include "eval/review_html.h"
#include "eval/review_model.h"
#include "eval/run_eval.h"
#include "eval/xml_writer.h"
#include "train/config.h"
#include "train/data.h"
#include "train/predictor.h"
#include "train/trainer.h"

namespace tenor::eval {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kWorkPrefix = ".review-work-";
constexpr int kReviewFormat = 1;
/// review.html embeds at most this much audio (base64 of 16 kHz 16-bit WAV, ~43 kB per
/// second), each clip at most kMaxClipSeconds: the page must still open in a browser.
constexpr size_t kMaxAudioBytes = size_t{64} << 20;
constexpr double kMaxClipSeconds = 30;
constexpr int kClipRateHz = 16000;

using Clock = std::chrono::steady_clock;

/// Out-of-fold probabilities of one model task over every store row ([rows, K]; rows the
/// task has no label on stay unscored).
struct TaskScores {
  train::TaskSpec spec;
  int column = 0;  ///< the task's column in the store's labels
  std::vector<double> probs;
  std::vector<bool> scored;
  std::vector<double> penalties;  ///< the built-in model's L2 penalty per fold
};

bool builtin_model(const ReviewOptions& options) { return options.config.empty(); }

/// The fold models' training config; for the built-in model only its tasks and modalities
/// count (the defaults: agent tasks read no voice).
train::TrainConfig review_config(const ReviewOptions& options, const fs::path& store) {
  train::TrainConfig config;
  if (builtin_model(options) && !options.overrides.empty())
    throw UsageError("--set " + options.overrides.front() +
                     ": --set overrides the keys of a --config; the built-in review model has "
                     "none. Train the fold models with a config, e.g. --config "
                     "configs/demo-linear.yaml (the linear baseline), or drop --set");
  if (builtin_model(options))
    config.device = "cpu";
  else
    train::apply_yaml_file(config, options.config.string());
  for (const auto& o : options.overrides) train::apply_override(config, o);
  if (!options.device.empty()) config.device = options.device;
  config.features = store.string();
  // No dev split (every other fold trains, as in cross-validation): every epoch runs and the
  // last checkpoint scores the held-out fold.
  config.patience = config.epochs;
  config.validate();
  return config;
}

/// OUT created when absent and locked for this review (two reviews into one directory would
/// mix their files); a directory created here is removed again if the review fails.
struct OutDir {
  std::unique_ptr<TemporaryPath> created;
  std::unique_ptr<FileLock> lock;
};

OutDir open_out_dir(const fs::path& out) {
  OutDir dir;
  std::error_code ec;
  const bool existed = fs::exists(out, ec);
  fs::create_directories(out, ec);
  if (ec)
    throw IoError("cannot create the review directory " + out.string() + ": " + ec.message() +
                  "; choose an --out you can write");
  dir.lock = std::make_unique<FileLock>(out / ".lock", "the review directory " + out.string());
  if (!existed) dir.created = std::make_unique<TemporaryPath>(out);
  for (const auto& entry : fs::directory_iterator(out, ec))  // left by a killed review
    if (entry.path().filename().string().rfind(kWorkPrefix, 0) == 0)
      fs::remove_all(entry.path(), ec);
  return dir;
}

/// The store with fold `f` as its test split and every other fold as train.
features::Store fold_store(const features::Store& base, const std::vector<int>& row_fold, int f) {
  features::Store s = base;
  for (size_t i = 0; i < s.segments.size(); ++i)
    s.segments[i].split = row_fold[i] == f ? "test" : "train";
  return s;
}

/// While alive, the named loggers report errors only: a fold model's per-epoch lines and its
/// warnings about the dev split it has not (every other fold trains) would drown the review's
/// one line per fold.
class QuietLoggers {
 public:
  explicit QuietLoggers(const std::vector<std::string>& names) {
    for (const auto& n : names) {
      auto log = logger(n);
      saved_.emplace_back(log, log->level());
      log->set_level(std::max(log->level(), spdlog::level::err));
    }
  }
  ~QuietLoggers() {
    for (auto& [log, level] : saved_) log->set_level(level);
  }
  QuietLoggers(const QuietLoggers&) = delete;
  QuietLoggers& operator=(const QuietLoggers&) = delete;

 private:
  std::vector<std::pair<std::shared_ptr<spdlog::logger>, spdlog::level::level_enum>> saved_;
};

/// Trains the fold model of fold `f` in `dir` and scores the fold's rows into `scores`.
void score_fold(const train::TrainConfig& base_config, const features::Store& base,
                const std::vector<int>& row_fold, int f, int folds, const fs::path& dir,
                std::vector<TaskScores>& scores) {
  const auto start = Clock::now();
  train::TrainConfig config = base_config;
  config.out = (dir / ("fold-" + std::to_string(f))).string();
  const features::Store store = fold_store(base, row_fold, f);
  std::optional<train::RunPredictor> predictor;
  {
    QuietLoggers quiet({"train", "eval"});
    train::train_model(config, store);
    predictor.emplace(config.out, config.device, "last.pt");
  }
  train::RunPredictor& model = *predictor;
  const train::TrainData data = model.prepare(store, "fold " + std::to_string(f + 1));
  const auto probs = model.probabilities(data, data.test);
  if (scores.empty())
    for (size_t t = 0; t < data.shape.tasks.size(); ++t)
      scores.push_back({data.shape.tasks[t], data.task_columns[t], {}, {}, {}});
  for (size_t t = 0; t < scores.size(); ++t) {
    auto& s = scores[t];
    const size_t k = size_t(s.spec.num_classes);
    if (s.probs.empty()) {
      s.probs.assign(base.segments.size() * k, 0.0);
      s.scored.assign(base.segments.size(), false);
    }
    for (size_t i = 0; i < data.test.size(); ++i) {
      const auto row = size_t(data.test[i]);
      if (base.segments[row].labels[size_t(s.column)] < 0) continue;
      std::copy(probs[t].begin() + long(i * k), probs[t].begin() + long((i + 1) * k),
                s.probs.begin() + long(row * k));
      s.scored[row] = true;
    }
  }
  std::error_code ec;
  fs::remove_all(config.out, ec);
  logger("data")->info("review: fold {}/{}: trained on {}, scored {} ({:.1f} s)", f + 1, folds,
                       data.train.size(), data.test.size(),
                       std::chrono::duration<double>(Clock::now() - start).count());
}

/// Every store row's call: its index in ds.calls.
std::vector<size_t> row_calls(const data::Dataset& ds, const features::Store& store) {
  std::map<std::string, size_t> by_id;
  for (size_t i = 0; i < ds.calls.size(); ++i) by_id[ds.calls[i].call_id] = i;
  std::vector<size_t> out;
  for (const auto& seg : store.segments) {
    auto it = by_id.find(seg.call_id);
    if (it == by_id.end())
      throw DataError("the review's feature store holds call " + seg.call_id +
                      ", which the dataset lacks; the dataset changed during the review: run it "
                      "again");
    out.push_back(it->second);
  }
  return out;
}

/// Every store row's fold: its call's.
std::vector<int> row_folds(const std::vector<size_t>& row_call, const std::vector<int>& call_fold) {
  std::vector<int> out;
  for (size_t c : row_call) out.push_back(call_fold[c]);
  return out;
}

struct Suspect {
  size_t row;
  const TaskScores* task;
  LabelIssue issue;
};

std::string class_name(const train::TaskSpec& t, int c) {
  return c >= 0 && size_t(c) < t.classes.size() ? t.classes[size_t(c)] : std::to_string(c);
}

json matrix(const std::vector<int64_t>& m, int k) {
  json rows = json::array();
  for (int i = 0; i < k; ++i)
    rows.push_back(std::vector<int64_t>(m.begin() + i * k, m.begin() + (i + 1) * k));
  return rows;
}

/// Confident learning per task: the suspects of every task, and each task's summary.
std::vector<Suspect> find_suspects(const features::Store& store,
                                   const std::vector<TaskScores>& scores, json& tasks) {
  std::vector<Suspect> all;
  for (const auto& s : scores) {
    const int k = s.spec.num_classes;
    std::vector<int> labels;
    std::vector<double> probs;
    std::vector<size_t> rows;
    for (size_t r = 0; r < store.segments.size(); ++r) {
      if (s.scored.empty() || !s.scored[r]) continue;
      rows.push_back(r);
      labels.push_back(store.segments[r].labels[size_t(s.column)]);
      probs.insert(probs.end(), s.probs.begin() + long(r * size_t(k)),
                   s.probs.begin() + long((r + 1) * size_t(k)));
    }
    json summary = {{"classes", s.spec.classes}, {"labelled", rows.size()}};
    if (rows.empty()) {
      tasks[s.spec.name] = summary;
      continue;
    }
    const ConfidentLearning cl = find_label_issues(labels, probs, k);
    summary["thresholds"] = cl.thresholds;
    summary["confident_joint"] = matrix(cl.joint, k);
    summary["estimated_joint"] = matrix(cl.calibrated, k);
    summary["suspects"] = cl.issues.size();
    if (!s.penalties.empty()) summary["penalties"] = s.penalties;
    tasks[s.spec.name] = summary;
    for (const auto& issue : cl.issues) all.push_back({rows[issue.index], &s, issue});
  }
  std::stable_sort(all.begin(), all.end(), [](const Suspect& a, const Suspect& b) {
    return a.issue.self_confidence < b.issue.self_confidence;
  });
  return all;
}

json suspects_json(const features::Store& store, const std::vector<Suspect>& suspects) {
  json list = json::array();
  for (size_t i = 0; i < suspects.size(); ++i) {
    const auto& s = suspects[i];
    const auto& seg = store.segments[s.row];
    list.push_back({{"rank", i + 1},
                    {"call_id", seg.call_id},
                    {"segment", seg.segment},
                    {"task", s.task->spec.name},
                    {"given", class_name(s.task->spec, s.issue.given)},
                    {"suggested", class_name(s.task->spec, s.issue.suggested)},
                    {"score", 1.0 - s.issue.self_confidence},
                    {"self_confidence", s.issue.self_confidence},
                    {"confidence", s.issue.confidence},
                    {"speaker", seg.speaker},
                    {"start", seg.start_s},
                    {"end", seg.end_s}});
  }
  return list;
}

std::string oof_lines(const features::Store& store, const std::vector<TaskScores>& scores) {
  std::string out;
  for (size_t r = 0; r < store.segments.size(); ++r) {
    for (const auto& s : scores) {
      if (s.scored.empty() || !s.scored[r]) continue;
      const size_t k = size_t(s.spec.num_classes);
      const auto& seg = store.segments[r];
      json line = {{"call_id", seg.call_id},
                   {"segment", seg.segment},
                   {"task", s.spec.name},
                   {"label", seg.labels[size_t(s.column)]},
                   {"probs", std::vector<double>(s.probs.begin() + long(r * k),
                                                 s.probs.begin() + long((r + 1) * k))}};
      out += line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    }
  }
  return out;
}

json annotators_json(const data::Dataset& ds) {
  json out = json::object();
  for (const auto& task : ds.schema.tasks) {
    json list = json::array();
    for (const auto& a : data::annotator_agreement(ds, task))
      list.push_back({{"annotator", a.annotator},
                      {"segments", a.segments},
                      {"agreed", a.agreed},
                      {"agreement", a.agreement},
                      {"kappa", a.kappa},
                      {"confusion", matrix(a.confusion, task.num_classes())}});
    if (!list.empty()) out[task.name] = list;
  }
  return out;
}

/// The segment's audio (its speaker's channel, at most kMaxClipSeconds) as a data URI, or ""
/// when the call has no audio or it cannot be read.
std::string clip_uri(const fs::path& root, const data::Call& call, const features::StoreSegment& seg) {
  if (call.audio.empty()) return "";
  try {
    data::AudioReader reader(root / call.audio);
    auto ch = call.channels.find(seg.speaker);
    const int channel = ch == call.channels.end() ? -1 : ch->second;
    const double end = std::min(seg.end_s, seg.start_s + kMaxClipSeconds);
    return wav_data_uri(reader.read(seg.start_s, end, channel, kClipRateHz), kClipRateHz);
  } catch (const Error& e) {
    logger("data")->warn("review.html: no player for call {} segment {}: {}", call.call_id,
                         seg.segment, e.what());
    return "";
  }
}

std::string shown(double v) { return std::isfinite(v) ? svg_number(v, 3) : "n/a"; }

ReviewPage review_page(const data::Dataset& ds, const features::Store& store,
                       const std::vector<Suspect>& suspects, const ReviewOptions& options,
                       const std::vector<std::string>& notes) {
  ReviewPage page;
  page.title = "label review: " + ds.schema.name;
  page.notes = notes;
  std::map<std::string, const data::Call*> calls;
  for (const auto& c : ds.calls) calls[c.call_id] = &c;
  size_t audio_bytes = 0;
  for (size_t i = 0; i < suspects.size(); ++i) {
    const auto& s = suspects[i];
    const auto& seg = store.segments[s.row];
    ReviewRow row{int(i + 1), seg.call_id, seg.segment, seg.start_s, seg.end_s, seg.speaker,
                  seg.text, s.task->spec.name, class_name(s.task->spec, s.issue.given),
                  class_name(s.task->spec, s.issue.suggested), s.issue.confidence,
                  1.0 - s.issue.self_confidence, ""};
    if (options.audio && audio_bytes < kMaxAudioBytes) {
      row.audio_uri = clip_uri(ds.root, *calls.at(seg.call_id), seg);
      audio_bytes += row.audio_uri.size();
    }
    page.rows.push_back(std::move(row));
  }
  for (const auto& task : ds.schema.tasks)
    for (const auto& a : data::annotator_agreement(ds, task))
      page.annotators.push_back({task.name, a.annotator, std::to_string(a.segments),
                                 shown(a.agreement), shown(a.kappa)});
  if (options.audio && audio_bytes >= kMaxAudioBytes)
    page.notes.push_back("Audio players stop after " + std::to_string(kMaxAudioBytes >> 20) +
                         " MB of embedded audio; the later rows have none.");
  return page;
}

/// The fold models' out-of-fold probabilities over `store`: `config`'s model trained per fold.
std::vector<TaskScores> out_of_fold(const train::TrainConfig& config, const features::Store& store,
                                    const std::vector<int>& row_fold, int folds,
                                    const fs::path& work) {
  std::vector<TaskScores> scores;
  for (int f = 0; f < folds; ++f) score_fold(config, store, row_fold, f, folds, work, scores);
  return scores;
}

/// One task's rows: those of fold `f` (`in_fold`) or of every other fold, labelled or not.
std::vector<int64_t> fold_rows(const std::vector<int>& row_fold, int f, bool in_fold) {
  std::vector<int64_t> rows;
  for (size_t r = 0; r < row_fold.size(); ++r)
    if ((row_fold[r] == f) == in_fold) rows.push_back(int64_t(r));
  return rows;
}

/// The built-in model's out-of-fold probabilities of one task (eval/review_model.h).
TaskScores builtin_task_scores(const features::Store& store,
                               const std::vector<std::string>& row_speakers,
                               const train::TaskSpec& spec, const std::vector<int>& row_fold,
                               const std::vector<int>& inner_fold, int folds) {
  const auto& names = store.layout.tasks;
  const int column = int(std::find(names.begin(), names.end(), spec.name) - names.begin());
  TaskScores s{spec, column, {}, {}, {}};
  const size_t k = size_t(spec.num_classes), rows = store.segments.size();
  std::vector<int> labels;
  for (const auto& seg : store.segments) labels.push_back(seg.labels[size_t(s.column)]);
  s.probs.assign(rows * k, 0.0);
  s.scored.assign(rows, false);
  const ReviewInputs inputs = review_inputs(store, row_speakers, spec.functionals, spec.text);
  for (int f = 0; f < folds; ++f) {
    std::vector<int64_t> test;
    for (auto r : fold_rows(row_fold, f, true))
      if (labels[size_t(r)] >= 0) test.push_back(r);
    const FoldPrediction p = fit_and_predict(inputs, labels, spec.num_classes,
                                             fold_rows(row_fold, f, false), test, inner_fold);
    for (size_t i = 0; i < test.size(); ++i) {
      std::copy_n(p.probs.begin() + long(i * k), k, s.probs.begin() + long(size_t(test[i]) * k));
      s.scored[size_t(test[i])] = true;
    }
    s.penalties.push_back(p.penalty);
  }
  return s;
}

/// The built-in model's out-of-fold probabilities of every task, on one CPU thread
/// (`row_speakers`: each row's data::Call::speaker_id, for per-speaker standardisation).
std::vector<TaskScores> builtin_out_of_fold(const train::TrainConfig& config,
                                            const features::Store& store,
                                            const std::vector<std::string>& row_speakers,
                                            const std::vector<int>& row_fold,
                                            const std::vector<int>& inner_fold, int folds) {
  compat::set_cpu_threads(1);
  std::vector<TaskScores> scores;
  for (const auto& spec : train::task_specs(store, config.tasks, config.model)) {
    const auto start = Clock::now();
    scores.push_back(builtin_task_scores(store, row_speakers, spec, row_fold, inner_fold, folds));
    logger("data")->info("review: task {}: {} folds, L2 penalty per fold {} ({:.1f} s)",
                         spec.name, folds, json(scores.back().penalties).dump(),
                         std::chrono::duration<double>(Clock::now() - start).count());
  }
  return scores;
}

size_t scored_rows(const std::vector<TaskScores>& scores, size_t rows) {
  size_t n = 0;
  for (size_t r = 0; r < rows; ++r) {
    bool any = false;
    for (const auto& s : scores) any |= !s.scored.empty() && s.scored[r];
    n += any;
  }
  return n;
}

/// The tasks the fold models train: the config's, or every task with a labelled segment.
/// DataError when no segment carries a label of any of them: there is nothing to review.
void choose_tasks(train::TrainConfig& config, const data::Dataset& ds, const fs::path& dir) {
  std::vector<std::string> labelled;
  for (const auto& task : ds.schema.tasks) {
    bool any = false;
    for (const auto& call : ds.calls)
      for (const auto& seg : call.segments) any = any || data::resolved_label(seg, task);
    if (any) labelled.push_back(task.name);
  }
  if (labelled.empty())
    throw DataError("dataset " + dir.string() + " has no labelled segment (tasks: " +
                    join(ds.schema.task_names(), ", ") +
                    "): there is no label to review; label segments (docs/dataset-format.md) "
                    "and review again");
  if (config.tasks.empty()) config.tasks = labelled;
}

std::string model_name(const ReviewOptions& options) {
  return builtin_model(options)
             ? std::string("the built-in logistic regression (L2 penalty chosen by inner "
                           "cross-validation per fold, functionals standardised per speaker)")
             : options.config.string();
}

/// How the review's store is built: on the config's device, with the speech encoder states a
/// --config's model reads, in its window.
features::BuildOptions store_options(const train::TrainConfig& config,
                                     const ReviewOptions& options) {
  features::BuildOptions build;
  build.device = config.device;
  build.progress = options.progress;
  build.speech_encoder = config.speech_encoder;
  if (!config.speech_window.empty()) build.speech_window = config.speech_window;
  return build;
}

}  // namespace

ReviewSummary review_dataset(const fs::path& dataset, const fs::path& out,
                             const ReviewOptions& options) {
  const auto start = Clock::now();
  if (options.folds < 2)
    throw UsageError("--folds must be at least 2, not " + std::to_string(options.folds));
  data::refuse_output_inside_dataset(dataset, out);
  OutDir dir = open_out_dir(out);
  TemporaryPath work(out / (kWorkPrefix + std::to_string(::getpid())));
  std::error_code ec;
  fs::create_directories(work.path(), ec);
  if (ec) throw IoError("cannot create " + work.path().string() + ": " + ec.message());
  const fs::path store_path = work.path() / "features.h5";
  train::TrainConfig config = review_config(options, store_path);
  const data::Dataset ds = validated_dataset(dataset, "review again", /*splits_used=*/false);
  choose_tasks(config, ds, dataset);
  // Copies of a call in two folds would let a fold model score its own training label: text
  // and audio duplicates stay in one fold (the features are read from the audio anyway).
  data::DuplicateOptions duplicates;
  duplicates.audio = true;
  const std::vector<int> call_fold =
      data::assign_folds(ds, options.folds, options.seed, "", duplicates);

  features::build_feature_store(dataset, store_path, store_options(config, options));
  const features::Store store = features::read_store(store_path);
  const std::vector<size_t> row_call = row_calls(ds, store);
  const std::vector<int> row_fold = row_folds(row_call, call_fold);
  std::vector<TaskScores> scores;
  if (builtin_model(options)) {
    std::vector<std::string> row_speakers;
    for (size_t c : row_call) row_speakers.push_back(ds.calls[c].speaker_id());
    // The built-in model chooses its penalty on inner folds of the training folds: the same
    // groups, assigned again with another seed.
    const std::vector<int> inner_fold = row_folds(
        row_call,
        data::assign_folds(ds, std::min(3, options.folds), options.seed + 1, "", duplicates));
    scores = builtin_out_of_fold(config, store, row_speakers, row_fold, inner_fold, options.folds);
  } else {
    scores = out_of_fold(config, store, row_fold, options.folds, work.path());
  }

  json tasks = json::object();
  const auto suspects = find_suspects(store, scores, tasks);
  ReviewSummary summary{scored_rows(scores, store.segments.size()), suspects.size(),
                        std::chrono::duration<double>(Clock::now() - start).count()};
  const json review = {
      {"format", kReviewFormat},
      {"dataset",
       {{"name", store.meta.dataset_name},
        {"fingerprint", store.meta.dataset_fingerprint},
        {"path", fs::absolute(dataset).string()}}},
      {"model",
       {{"config", options.config.empty() ? json() : json(fs::absolute(options.config).string())},
        {"overrides", options.overrides},
        {"type", builtin_model(options) ? std::string("logistic") : config.model.type},
        {"folds", options.folds},
        {"seed", options.seed}}},
      {"segments", summary.segments},
      {"seconds", summary.seconds},
      {"suspects", suspects_json(store, suspects)},
      {"tasks", tasks},
      {"annotators", annotators_json(ds)},
      {"probabilities", "oof.jsonl"}};
  const std::vector<std::string> notes = {
      std::to_string(suspects.size()) + " suspected label errors among " +
          std::to_string(summary.segments) + " labelled segments, most likely first.",
      "Out-of-fold probabilities from " + model_name(options) + " (" +
          std::to_string(options.folds) + " folds grouped by call, speaker and duplicate), " +
          "confident learning (Northcutt et al. 2021) per task; confidence = p(suggested)."};
  const std::string html = review_to_html(review_page(ds, store, suspects, options, notes));
  const std::string oof = oof_lines(store, scores);
  DeferInterrupts whole_review;
  write_file_atomic(out / "oof.jsonl", oof);
  write_file_atomic(out / "review.json",
                    review.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  write_file_atomic(out / "review.html", html);
  if (dir.created) dir.created->keep();
  return summary;
}

}  // namespace tenor::eval
