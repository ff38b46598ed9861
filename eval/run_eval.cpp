#include "eval/run_eval.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_lock.h"
#include "core/temporary_path.h"
#include "core/log.h"
#include "core/text.h"
#include "eval/report.h"
#include "data/audio.h"
#include <cstdio>
#include "data/dataset.h"
#include "data/features/build.h"
#include "data/features/sample_rate.h"
#include "data/features/store.h"
#include "data/validate.h"
#include "train/predictor.h"

namespace tenor::eval {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// The labelled rows of `split` ("all": of every split, in store order).
std::vector<int64_t> split_rows(const train::TrainData& data, const std::string& split) {
  if (split == "train") return data.train;
  if (split == "dev") return data.dev;
  if (split == "test") return data.test;
  if (split != "all")
    throw UsageError("--split must be test, dev, train or all, not '" + split + "'");
  std::vector<int64_t> rows = data.train;
  rows.insert(rows.end(), data.dev.begin(), data.dev.end());
  rows.insert(rows.end(), data.test.begin(), data.test.end());
  std::sort(rows.begin(), rows.end());
  return rows;
}

void check_calibration(const std::string& calibration) {
  if (calibration != "run" && calibration != "dev")
    throw UsageError("--calibration must be run or dev, not '" + calibration + "'");
}

/// What the report's error tables, call pages and predictions.jsonl show besides the scores:
/// each segment's transcript and index in its call (from the store), and each task's role.
void describe_segments(EvalSet& set, const train::Predictor& predictor,
                       const train::TrainData& data, const std::vector<int64_t>& rows) {
  for (int64_t r : rows) {
    const features::StoreSegment& s = data.store.segments[size_t(r)];
    set.segments.texts.push_back(s.text);
    set.segments.indices.push_back(s.segment);
  }
  for (auto& t : set.tasks)
    for (const auto& spec : predictor.tasks())
      if (spec.name == t.name) t.speaker = spec.speaker;
}

/// A run's predictions on `split` of `data`, and the decision rules they are scored with:
/// the run's own (fitted on its dev split when training ended), or with `calibration` "dev"
/// fitted on the dev split of `data` (`name`: what the rules record they were fitted on).
struct RunSet {
  EvalSet set;
  DecisionRules rules;
};

RunSet run_set(train::Predictor& predictor, const train::TrainData& data,
               const std::string& name, const std::string& split,
               const std::string& calibration) {
  check_calibration(calibration);
  const auto rows = split_rows(data, split);
  if (rows.empty())
    throw DataError(name + " has no labelled segment in split '" + split +
                    "'; assign splits with `tenor data split` and rebuild the store");
  RunSet out{train::eval_set(predictor, data, rows), predictor.rules()};
  if (calibration == "dev") out.rules = train::fit_rules(predictor, data, name);
  describe_segments(out.set, predictor, data, rows);
  return out;
}

RunSet run_set(const fs::path& run_dir, const fs::path& store, const std::string& split,
               const std::string& device, const std::string& calibration) {
  check_calibration(calibration);
  train::RunPredictor predictor(run_dir, device);
  const train::TrainData data = predictor.prepare(features::read_store(store), store.string());
  return run_set(predictor, data, store.string(), split, calibration);
}

/// The report directory, created when absent and locked for this evaluation: two into one
/// directory would leave report.json of one and report.html of the other. The lock is taken
/// before any work, so the second fails at once. A directory created here is removed again
/// when the evaluation fails or is interrupted before its report is written (`created`).
struct ReportDir {
  std::unique_ptr<TemporaryPath> created;
  std::unique_ptr<FileLock> lock;
};

}  // namespace

void refuse_inside_run(const fs::path& run, const fs::path& path, const std::string& flag) {
  if (path_within(path, run))
    throw UsageError(flag + " " + path.string() + " lies inside the run " + run.string() +
                     "; tenor eval never writes into a run: choose a path outside it");
}

namespace {

ReportDir open_report_dir(const fs::path& run, const fs::path& out) {
  refuse_inside_run(run, out, "--out");
  ReportDir dir;
  std::error_code ec;
  const bool existed = fs::exists(out, ec);
  fs::create_directories(out, ec);
  if (ec)
    throw IoError("cannot create the report directory " + out.string() + ": " + ec.message() +
                  "; choose an --out you can write");
  dir.lock = std::make_unique<FileLock>(out / ".lock", "the report directory " + out.string());
  // Only the lock's holder may remove the directory: a second evaluation that also found it
  // absent, and lost the lock, must not remove the first one's.
  if (!existed) dir.created = std::make_unique<TemporaryPath>(out);
  return dir;
}

/// A path as a relative URL: bytes outside [A-Za-z0-9._~/-] percent-encoded.
std::string url_path(const fs::path& p) {
  std::string out;
  for (unsigned char ch : p.generic_string()) {
    if (std::isalnum(ch) || std::string_view("._~/-").find(char(ch)) != std::string_view::npos) {
      out += char(ch);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", ch);
      out += buf;
    }
  }
  return out;
}

/// The audio of each call of `audio_dataset` that exists (checked here), as the call pages in
/// OUT/calls link it: relative to them, and as an absolute file URL; empty without a dataset.
using AudioLinks = std::map<std::string, CallAudio>;
AudioLinks audio_links(const fs::path& audio_dataset, const fs::path& out) {
  AudioLinks links;
  if (audio_dataset.empty()) return links;
  if (!fs::is_regular_file(audio_dataset / "dataset.yaml"))
    throw UsageError("--audio " + audio_dataset.string() + " holds no dataset.yaml; give the "
                     "dataset directory the store was built from, whose calls' audio the call "
                     "pages play");
  const data::Dataset ds = data::load_dataset_or_throw(audio_dataset);
  const fs::path pages = fs::weakly_canonical(fs::absolute(out / "calls"));
  for (const auto& c : ds.calls) {
    std::error_code ec;
    const fs::path audio = fs::weakly_canonical(fs::absolute(audio_dataset / c.audio), ec);
    if (c.audio.empty() || ec || !fs::is_regular_file(audio, ec)) continue;
    links[c.call_id] = {url_path(audio.lexically_relative(pages)), "file://" + url_path(audio)};
  }
  return links;
}

/// The report's call pages, OUT/calls/*.html: every call the report links to, and
/// options.call. Returns (path relative to OUT, page).
std::vector<std::pair<std::string, std::string>> call_pages(const EvalReport& report,
                                                            const EvalSet& set,
                                                            const HtmlOptions& html,
                                                            const RunEvalOptions& options,
                                                            const AudioLinks& audio) {
  std::vector<std::string> ids = linked_calls(report, set, html);
  if (options.call && std::find(ids.begin(), ids.end(), *options.call) == ids.end())
    ids.push_back(*options.call);
  if (!options.audio_dataset.empty() && !ids.empty() &&
      std::none_of(ids.begin(), ids.end(), [&](const auto& id) { return audio.count(id); }))
    logger("eval")->warn("the call pages have no audio: {} holds none of their calls' audio",
                         options.audio_dataset.string());
  std::vector<std::pair<std::string, std::string>> pages;
  for (const std::string& id : ids) {
    const auto a = audio.find(id);
    pages.emplace_back(call_page_path(id),
                       call_page(report, set, id, a == audio.end() ? CallAudio{} : a->second));
  }
  return pages;
}

/// Removes the pages in `dir` that an earlier evaluation into the same OUT wrote and this one
/// does not: the report and its call pages are of one evaluation.
void remove_other_call_pages(const fs::path& dir,
                             const std::vector<std::pair<std::string, std::string>>& pages) {
  std::set<std::string> keep;
  for (const auto& [path, content] : pages) keep.insert(fs::path(path).filename().string());
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".html" && !keep.count(entry.path().filename().string()))
      fs::remove(entry.path(), ec);
}

/// Writes OUT/report.json (with `provenance`: where the scores come from), OUT/report.html,
/// OUT/predictions.jsonl and the call pages OUT/calls/*.html; an interrupt meanwhile waits, so
/// OUT holds a whole report or none. Keeps a report directory created for it.
EvalReport write_report(ReportDir& dir, const fs::path& out, const RunSet& run,
                        const RunEvalOptions& options, const json& provenance,
                        const AudioLinks& audio) {
  if (options.call) only_call(run.set, *options.call);  // an unknown id fails before any work
  EvalReport report = evaluate(run.set, options.config, &run.rules);
  HtmlOptions html;
  json j = to_json(report, run.set, html.worst_errors);
  for (const auto& [key, value] : provenance.items()) j[key] = value;
  j["split"] = options.split;
  j["calibration"] = options.calibration;
  const TrainingHistory training =
      read_training_history(fs::path(provenance.value("run", "")) / "metrics.jsonl");
  html.training = &training;
  html.call_links = true;
  const std::string page = to_html(report, run.set, html);
  const auto pages = call_pages(report, run.set, html, options, audio);
  const std::string predictions = predictions_jsonl(report, run.set);
  DeferInterrupts whole_report;
  std::error_code ec;
  fs::create_directories(out / "calls", ec);
  if (ec)
    throw IoError("cannot create " + (out / "calls").string() + ": " + ec.message() +
                  "; choose an --out you can write");
  for (const auto& [path, content] : pages) write_file_atomic(out / path, content);
  remove_other_call_pages(out / "calls", pages);
  write_file_atomic(out / "predictions.jsonl", predictions);
  write_file_atomic(out / "report.json",
                    j.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  write_file_atomic(out / "report.html", page);
  if (dir.created) dir.created->keep();
  if (options.call)
    logger("eval")->info("call {}: {}", *options.call, (out / call_page_path(*options.call)).string());
  return report;
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
  ReportDir dir = open_report_dir(run, out);
  const AudioLinks audio = audio_links(options.audio_dataset, out);  // before any scoring
  const RunSet set = run_set(run, store, options.split, options.device, options.calibration);
  return write_report(dir, out, set, options,
                      {{"run", fs::absolute(run).string()},
                       {"store", fs::absolute(store).string()}},
                      audio);
}

// --- tenor eval --dataset ------------------------------------------------------------------

namespace {

/// The hidden directory in OUT that holds the temporary store of one `eval --dataset`.
constexpr const char* kStoreDirPrefix = ".dataset-store-";

/// Removes the temporary stores that evaluations into `out` killed by SIGKILL left: only they
/// write them, and the caller holds OUT's lock.
void remove_stale_stores(const fs::path& out) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(out, ec))
    if (entry.path().filename().string().rfind(kStoreDirPrefix, 0) == 0)
      fs::remove_all(entry.path(), ec);
}

std::string listed(const std::vector<std::string>& names) { return "[" + join(names, ", ") + "]"; }

/// Every task of the run must be in the dataset with the run's type and classes (in any order:
/// labels are matched by name, as for a store).
void check_dataset_tasks(const data::Schema& schema, const fs::path& dir,
                         const train::Predictor& model, const std::string& run) {
  const std::string yaml = (dir / "dataset.yaml").string();
  for (const auto& t : model.tasks()) {
    const data::Task* have = schema.find(t.name);
    if (!have)
      throw DataError(yaml + " has no task '" + t.name + "' (it has " +
                      join(schema.task_names(), ", ") + "), which run " + run +
                      " predicts; label the dataset for it (docs/dataset-format.md) or score it "
                      "with a run trained on its tasks");
    if (have->type != t.type)
      throw DataError(yaml + ": task '" + t.name + "' is " + data::to_string(have->type) +
                      ", but run " + run + " predicts it as " + data::to_string(t.type) +
                      "; give the task the run's type and classes " + listed(t.classes) +
                      ", or score the dataset with a run trained on it");
    std::vector<std::string> a = have->classes, b = t.classes;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    if (!t.classes.empty() && a != b)
      throw DataError(yaml + ": task '" + t.name + "' has classes " + listed(have->classes) +
                      ", but run " + run + " was trained on " + listed(t.classes) +
                      "; its predictions cannot be scored against these labels: relabel the "
                      "task with the run's classes, or score the dataset with a run trained on "
                      "its own");
  }
}

/// A run's task scored without what it reads would score features it never saw (empty
/// frames, no tokens): refused are a labelled segment of a task that reads the voice in a call
/// without audio, and a task that reads text without one labelled segment with a transcript.
void check_modalities(const data::Dataset& ds, const fs::path& dir,
                      const train::Predictor& model, const std::string& run) {
  for (const auto& t : model.tasks()) {
    const data::Task* task = ds.schema.find(t.name);
    size_t labelled = 0, with_text = 0, without_audio = 0;
    std::string first_without_audio;
    for (const auto& c : ds.calls)
      for (const auto& seg : c.segments) {
        if (data::resolved_label(seg, *task).value_or(-1) < 0) continue;
        ++labelled;
        with_text += seg.text && !seg.text->empty();
        if (c.audio.empty() && without_audio++ == 0) first_without_audio = c.call_id;
      }
    if ((t.prosody || t.functionals) && without_audio > 0)
      throw DataError("dataset " + dir.string() + ": call " + first_without_audio + " has no " +
                      "audio (" + std::to_string(without_audio) + " of " +
                      std::to_string(labelled) + " segments labelled for '" + t.name +
                      "' lack it), but run " + run + " reads the voice for '" + t.name +
                      "'; give the calls their audio, or score the dataset with a run that "
                      "reads text only");
    if (t.text && !t.prosody && !t.functionals && labelled > 0 && with_text == 0)
      throw DataError("dataset " + dir.string() + ": no segment labelled for '" + t.name +
                      "' has a transcript, but run " + run + " reads only text for it; add "
                      "the transcripts (segments[].text), or score the dataset with a run that "
                      "reads the voice");
  }
}

/// Refuses audio whose content ends below the highest frequency the run's extractor analyses
/// (min(mel_high_hz, Nyquist of its rate)): upsampled, its upper bands would be empty, unlike
/// anything the run was trained on. Reads only the headers; a file that cannot be read is left
/// to the build's audio checks.
void check_sample_rates(const data::Dataset& ds, const fs::path& dir,
                        const features::LldConfig& lld, const std::string& run) {
  const double top_hz = features::analysed_top_hz(lld);
  std::set<std::string> files;
  for (const auto& c : ds.calls)
    if (!c.audio.empty()) files.insert(c.audio);
  std::vector<std::pair<std::string, int>> low;  // file, rate
  for (const auto& f : files) {
    int rate = 0;
    try {
      rate = data::AudioReader(dir / f).info().sample_rate_hz;
    } catch (const Error&) {
      continue;
    }
    if (rate / 2.0 < top_hz) low.emplace_back(f, rate);
  }
  if (low.empty()) return;
  const auto hz = [](double v) { return std::to_string(int(std::lround(v))) + " Hz"; };
  const auto& [file, rate] = low.front();
  std::string more;
  for (size_t i = 1; i < low.size() && i <= 3; ++i)
    more += (i > 1 ? ", " : "") + low[i].first + " (" + hz(low[i].second) + ")";
  if (low.size() > 4) more += ", ...";
  throw DataError(
      "dataset " + dir.string() + ": " + (dir / file).string() + " is sampled at " + hz(rate) +
      (low.size() > 1 ? " (and " + std::to_string(low.size() - 1) + " more file(s) too low: " +
                            more + ")"
                      : std::string()) +
      ", so it holds nothing above " + hz(rate / 2.0) + ", but run " + run +
      " analyses up to " + hz(top_hz) + " (its extractor runs at " + hz(lld.sample_rate_hz) +
      ", mel bands to " + hz(lld.mel_high_hz) +
      "): upsampled, its upper bands would be empty, unlike anything the run was trained on; "
      "score such audio with a run trained at " + hz(rate) +
      " (`tenor data build DIR --sample-rate " + std::to_string(rate) +
      "`), or pass --allow-narrowband to score it as it is");
}

std::string task_list(const train::Predictor& model) {
  std::vector<std::string> names;
  for (const auto& t : model.tasks()) names.push_back(t.name);
  return join(names, ", ");
}

/// The checks that need the dataset's rows, on its outline (no audio read): the one store
/// check against the run (tokenizer, columns, sentence embeddings, tasks), labelled segments
/// in the chosen split, and in the dev split for --calibration dev.
void check_dataset_rows(const data::Dataset& ds, const fs::path& dir,
                        const features::BuildOptions& build, train::Predictor& model,
                        const RunEvalOptions& options) {
  const std::string name = "dataset " + dir.string();
  const train::TrainData data =
      model.prepare(features::store_outline(ds, build, *build.tokenizer_model), name);
  const auto counts = "(labelled segments: train " + std::to_string(data.train.size()) +
                      ", dev " + std::to_string(data.dev.size()) + ", test " +
                      std::to_string(data.test.size()) + ")";
  if (split_rows(data, options.split).empty())
    throw DataError(name + " has no segment labelled for " + task_list(model) + " in split '" +
                    options.split + "' " + counts +
                    "; choose another --split (all: every labelled segment), or assign splits "
                    "with `tenor data split`");
  if (options.calibration == "dev" && data.dev.empty())
    throw DataError("--calibration dev fits the decision rules on the dev split of " + name +
                    ", which has no segment labelled for " + task_list(model) + " " + counts +
                    "; use --calibration run (the run's own rules, fitted on its dev split), "
                    "or give the dataset a dev split (`tenor data split`)");
  if (options.calibration == "dev" && options.split == "all")
    logger("eval")->warn("--split all with --calibration dev scores the dev segments the "
                         "decision rules were fitted on: the figures are optimistic");
}

/// The extraction options of the run's features, for this dataset.
features::BuildOptions run_build_options(train::Predictor& model,
                                         const DatasetEvalOptions& options) {
  features::BuildOptions build = features::build_options_from_config(model.extractor_config());
  build.tokenizer_model = model.tokenizer_model();
  build.device = options.eval.device;
  build.progress = options.progress;
  return build;
}

}  // namespace

data::Dataset validated_dataset(const fs::path& dir, const std::string& then, bool splits_used) {
  data::ValidateOptions options;
  options.check_audio = false;
  options.duplicates_as_warnings = !splits_used;
  data::ValidationResult result = data::validate_dataset(dir, options);
  const auto& diag = result.diagnostics;
  if (diag.error_count() > 0)
    throw DataError("dataset " + dir.string() + " does not validate: " +
                    std::to_string(diag.error_count()) + " error(s):" + diag.error_summary() +
                    "\nfix them (`tenor data validate " + dir.string() +
                    "` lists every finding) and " + then);
  if (diag.warning_count() > 0)
    logger("eval")->info("dataset {}: {} warning(s) (`tenor data validate {}` lists them)",
                         dir.string(), diag.warning_count(), dir.string());
  return std::move(result.dataset);
}

EvalReport evaluate_run_on_dataset(const fs::path& run, const fs::path& dataset,
                                   const fs::path& out, const DatasetEvalOptions& options) {
  check_calibration(options.eval.calibration);
  split_rows(train::TrainData{}, options.eval.split);  // a usage error before any work
  data::refuse_output_inside_dataset(dataset, out);
  if (!options.keep_store.empty()) {
    data::refuse_output_inside_dataset(dataset, options.keep_store);
    refuse_inside_run(run, options.keep_store, "--keep-store");
  }
  ReportDir dir = open_report_dir(run, out);
  remove_stale_stores(out);
  train::RunPredictor model(run, options.eval.device);
  if (!options.keep_store.empty() &&
      resolved_path(options.keep_store) == resolved_path(model.run().info.config.features))
    throw UsageError("--keep-store " + options.keep_store.string() + " is the store run " +
                     run.string() + " was trained on; choose another path");
  const data::Dataset ds = validated_dataset(dataset, "evaluate again");
  check_dataset_tasks(ds.schema, dataset, model, run.string());
  check_modalities(ds, dataset, model, run.string());
  const features::BuildOptions build = run_build_options(model, options);
  if (!options.allow_narrowband) check_sample_rates(ds, dataset, build.lld, run.string());
  check_dataset_rows(ds, dataset, build, model, options.eval);

  std::optional<TemporaryPath> temp;
  fs::path store = options.keep_store;
  if (store.empty()) {
    temp.emplace(out / (kStoreDirPrefix + std::to_string(::getpid())));
    std::error_code ec;
    fs::create_directories(temp->path(), ec);
    if (ec)
      throw IoError("cannot create " + temp->path().string() + " for the dataset's features: " +
                    ec.message() + "; choose an --out you can write, or --keep-store PATH");
    store = temp->path() / "features.h5";
  }
  features::BuildOptions extract = build;
  // A store thrown away after this command holds only the calls it scores (and those its
  // decision rules are fitted on); one kept with --keep-store holds every call.
  if (temp && options.eval.split != "all") {
    extract.splits = {options.eval.split};
    if (options.eval.calibration == "dev" && options.eval.split != "dev")
      extract.splits.push_back("dev");
  }
  features::build_feature_store(dataset, store, extract);
  const std::string name = "dataset " + dataset.string();
  const train::TrainData data = model.prepare(features::read_store(store), name);
  const RunSet set = run_set(model, data, name, options.eval.split, options.eval.calibration);
  RunEvalOptions eval = options.eval;
  if (eval.audio_dataset.empty()) eval.audio_dataset = dataset;
  const AudioLinks audio = audio_links(eval.audio_dataset, out);
  const json provenance = {
      {"run", fs::absolute(run).string()},
      {"dataset",
       {{"name", data.store.meta.dataset_name},
        {"fingerprint", data.store.meta.dataset_fingerprint},
        {"path", fs::absolute(dataset).string()}}},
      {"store", options.keep_store.empty() ? json() : json(fs::absolute(store).string())}};
  EvalReport report = write_report(dir, out, set, eval, provenance, audio);
  logger("eval")->info("scored dataset '{}' ({}, fingerprint {}) on split {} with the decision "
                       "rules fitted on {}",
                       data.store.meta.dataset_name, dataset.string(),
                       data.store.meta.dataset_fingerprint.substr(0, 12), options.eval.split,
                       set.rules.fitted_on);
  return report;
}

}  // namespace tenor::eval
