// `tenor data export`: a dataset (and a run's predictions on it) as the labelling tools' own
// files, the inverse of data/import_*.cpp: importing what this writes gives the dataset back
// (tests/data/label_tools_test.cpp).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/temporary_path.h"
#include "core/text.h"
#include "data/audio.h"
#include "data/json_line.h"
#include "data/label_tools.h"
#include "data/line_reader.h"
#include "data/textgrid.h"

namespace tenor::data {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// `tenor predict` output: per call, per segment index, the task scores.
using Predictions = std::map<std::string, std::map<int, json>>;

/// The problem with one task's scores in a prediction line ("" when none): a decision that is
/// one of the task's classes, and probabilities, one number per class.
std::string task_scores_problem(const json& scores, const Task& task) {
  if (!scores.is_object()) return "is not an object of decision and probabilities";
  const auto decision = scores.find("decision");
  if (decision == scores.end() || !decision->is_string() ||
      task.class_index(decision->get<std::string>()) < 0)
    return "has no decision among its classes (" + join(task.classes, ", ") + ")";
  const char* key = scores.contains("calibrated") ? "calibrated" : "probs";
  const auto probs = scores.find(key);
  if (probs == scores.end() || !probs->is_array() || probs->size() != task.classes.size() ||
      !std::all_of(probs->begin(), probs->end(), [](const json& v) { return v.is_number(); }))
    return std::string("has no '") + key + "' list of " + std::to_string(task.classes.size()) +
           " numbers, one per class";
  return "";
}

Predictions read_predictions(const fs::path& path, const Dataset& dataset) {
  Predictions out;
  if (path.empty()) return out;
  std::map<std::string, const Call*> calls;
  for (const auto& c : dataset.calls) calls[c.call_id] = &c;
  std::map<std::pair<std::string, int>, int64_t> line_of;  // each segment's line, once
  size_t task_scores = 0;
  LineReader reader(path, size_t{64} << 20);
  LineReader::Line line;
  const std::string fix = "; pass the output of `tenor predict --dataset` on this dataset";
  while (reader.next(line)) {
    if (trim(line.text).empty()) continue;
    const std::string at = path.string() + ":" + std::to_string(line.number) + ": ";
    json j;
    if (auto problem = parse_json_line(line.text, j); problem || !j.is_object() ||
        !j.contains("call_id") || !j.contains("segment") || !j.contains("tasks") ||
        !j["tasks"].is_object())
      throw DataError(at + "not a prediction line (call_id, segment, tasks)" + fix);
    const std::string id = j["call_id"].is_string() ? j["call_id"].get<std::string>() : "";
    const auto it = calls.find(id);
    const int64_t seg = j["segment"].is_number_integer() ? j["segment"].get<int64_t>() : -1;
    const std::string where = "call " + printable(id) + ", segment " + std::to_string(seg);
    if (it == calls.end() || seg < 0 || seg >= int64_t(it->second->segments.size()))
      throw DataError(at + where + " is not in the dataset" + fix);
    const Segment& s = it->second->segments[size_t(seg)];
    for (const auto& [key, value] : {std::pair{"start_s", s.start_s}, {"end_s", s.end_s}}) {
      if (!j.contains(key)) continue;
      if (!j[key].is_number() || std::abs(j[key].get<double>() - value) > 1e-3)
        throw DataError(at + where + " has other times than in the dataset (" + key + " " +
                        printable(j[key].dump()) + ", not " + format_number(value) + ")" + fix);
    }
    if (const auto [first, fresh] = line_of.emplace(std::pair{id, int(seg)}, line.number); !fresh)
      throw DataError(at + where + " was scored on line " + std::to_string(first->second) +
                      " already" + fix);
    for (const auto& task : dataset.schema.tasks) {
      if (!j["tasks"].contains(task.name)) continue;
      if (auto problem = task_scores_problem(j["tasks"][task.name], task); !problem.empty())
        throw DataError(at + where + ": task '" + task.name + "' " + problem + fix);
      ++task_scores;
    }
    out[id][int(seg)] = j["tasks"];
  }
  if (out.empty())
    throw DataError(path.string() + " holds no prediction lines" + fix);
  if (task_scores == 0) {
    std::vector<std::string> names;
    for (const auto& task : dataset.schema.tasks) names.push_back(task.name);
    throw DataError(path.string() + " scores none of the dataset's tasks (" + join(names, ", ") +
                    "): the run was trained on other tasks; pass the predictions of a run "
                    "trained for these");
  }
  return out;
}

/// The decision and its calibrated probability, e.g. ("angry", 0.83).
std::pair<std::string, double> decision_of(const json& task_scores, const Task& task) {
  const std::string decision = task_scores.value("decision", "");
  const int k = task.class_index(decision);
  const json probs = task_scores.contains("calibrated") ? task_scores["calibrated"]
                                                        : task_scores.value("probs", json());
  double p = 0;
  if (k >= 0 && probs.is_array() && size_t(k) < probs.size() && probs[size_t(k)].is_number())
    p = probs[size_t(k)];
  return {decision, p};
}

std::string score_text(double p) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.2f", p);
  return buf;
}

// --- review.json suspects -----------------------------------------------------------------

/// One suspect of `tenor data review` (docs/review.md), checked against the dataset.
struct Suspect {
  size_t rank = 0;  ///< 1 = most likely wrong (its place in review.json's list)
  int segment = 0;
  const Task* task = nullptr;
  std::string given, suggested;
  double score = 0;
};

/// Per call id, its suspects in rank order.
using Suspects = std::map<std::string, std::vector<Suspect>>;

std::string json_string(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

/// The suspect `j`, the `rank`-th of `path`, checked against the dataset's call and labels.
Suspect check_suspect(const json& j, size_t rank, const Dataset& dataset,
                      const std::map<std::string, const Call*>& calls, const fs::path& path) {
  Suspect s;
  s.rank = rank;
  const std::string id = json_string(j, "call_id");
  const auto number = [&](const char* key) { return j.contains(key) && j[key].is_number(); };
  const int64_t segment = j.contains("segment") && j["segment"].is_number_integer()
                              ? j["segment"].get<int64_t>()
                              : -1;
  s.task = dataset.schema.find(json_string(j, "task"));
  s.given = json_string(j, "given");
  s.suggested = json_string(j, "suggested");
  const std::string at = path.string() + ": suspect " + std::to_string(rank) + " (call " +
                         printable(id) + ", segment " +
                         (j.contains("segment") ? printable(j["segment"].dump()) : "none") +
                         ", " + printable(json_string(j, "task")) + "): ";
  const std::string foreign = "; pass the review of this dataset, or run `tenor data review` on "
                              "it";
  const std::string changed = "; the dataset changed since the review: run `tenor data review` "
                              "on it again";
  const auto call = calls.find(id);
  if (call == calls.end()) throw DataError(at + "no such call in the dataset" + foreign);
  if (!s.task || s.task->class_index(s.given) < 0 || s.task->class_index(s.suggested) < 0)
    throw DataError(at + "not a task and classes of the dataset's schema" + foreign);
  if (!number("score") || !(j["score"].get<double>() >= 0 && j["score"].get<double>() <= 1) ||
      (j.contains("start") && !number("start")) || (j.contains("end") && !number("end")))
    throw DataError(at + "its score, start or end is not a number as `tenor data review` "
                    "writes them (a score in 0 .. 1, times in seconds)" + foreign);
  const auto& segments = call->second->segments;
  if (segment < 0 || segment >= int64_t(segments.size()))
    throw DataError(at + "the call has " + std::to_string(segments.size()) + " segments" +
                    changed);
  s.segment = int(segment);
  s.score = j["score"].get<double>();
  const Segment& seg = segments[size_t(s.segment)];
  const auto label = resolved_label(seg, *s.task);
  const std::string now = label ? s.task->classes.at(size_t(*label)) : "none";
  if (now != s.given)
    throw DataError(at + "the review's given label is " + printable(s.given) +
                    " but the dataset's is " + now + changed);
  if (std::abs(j.value("start", seg.start_s) - seg.start_s) > 1e-3 ||
      std::abs(j.value("end", seg.end_s) - seg.end_s) > 1e-3)
    throw DataError(at + "the segment has other times in the dataset" + changed);
  return s;
}

/// The first `top` suspects (0: all) of review.json, per call.
Suspects read_suspects(const fs::path& path, size_t top, const Dataset& dataset) {
  Suspects out;
  if (path.empty()) return out;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw UsageError("--review " + path.string() + " is not a file; pass the review.json that "
                     "`tenor data review DIR --out REVIEW` wrote (REVIEW/review.json)");
  json review;
  try {
    review = json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw DataError(path.string() + ": not JSON (" + e.what() + "); pass the review.json that "
                    "`tenor data review` wrote");
  }
  if (!review.is_object() || !review.contains("suspects") || !review["suspects"].is_array())
    throw DataError(path.string() + ": no 'suspects' list; pass the review.json that `tenor "
                    "data review` wrote");
  std::map<std::string, const Call*> calls;
  for (const auto& c : dataset.calls) calls[c.call_id] = &c;
  std::map<std::tuple<std::string, int, const Task*>, size_t> rank_of;  // each label once
  size_t rank = 0;
  for (const auto& j : review["suspects"]) {
    if (top > 0 && rank == top) break;
    ++rank;
    if (!j.is_object())
      throw DataError(path.string() + ": suspect " + std::to_string(rank) + " is not an object; "
                      "pass the review.json that `tenor data review` wrote");
    const std::string id = json_string(j, "call_id");
    Suspect suspect = check_suspect(j, rank, dataset, calls, path);
    if (const auto [first, fresh] = rank_of.emplace(
            std::tuple{id, suspect.segment, suspect.task}, rank);
        !fresh)
      throw DataError(path.string() + ": suspect " + std::to_string(rank) + " (call " +
                      printable(id) + ", segment " + std::to_string(suspect.segment) + ", " +
                      suspect.task->name + ") is suspect " + std::to_string(first->second) +
                      " again; pass the review.json that `tenor data review` wrote");
    out[id].push_back(std::move(suspect));
  }
  return out;
}

/// The calls to export: all, or with a review those with a suspect, the best-ranked first.
Dataset calls_to_export(const Dataset& dataset, const Suspects& suspects, bool review) {
  if (!review) return dataset;
  Dataset out = dataset;
  out.calls.clear();
  for (const auto& call : dataset.calls)
    if (suspects.count(call.call_id)) out.calls.push_back(call);
  std::stable_sort(out.calls.begin(), out.calls.end(), [&](const Call& a, const Call& b) {
    return suspects.at(a.call_id).front().rank < suspects.at(b.call_id).front().rank;
  });
  return out;
}

// --- TextGrid ------------------------------------------------------------------------------

struct Stretch {
  double start_s, end_s;
  std::string text;
};

/// A tier covering [0, xmax]: the stretches, with empty intervals in the gaps.
TextGridTier filled_tier(const std::string& name, std::vector<Stretch> stretches, double xmax) {
  TextGridTier tier;
  tier.name = name;
  tier.xmax = xmax;
  std::sort(stretches.begin(), stretches.end(),
            [](const auto& a, const auto& b) { return a.start_s < b.start_s; });
  double at = 0;
  for (auto& s : stretches) {
    if (s.start_s > at) tier.intervals.push_back({at, s.start_s, "", 0});
    tier.intervals.push_back({s.start_s, s.end_s, std::move(s.text), 0});
    at = s.end_s;
  }
  if (at < xmax) tier.intervals.push_back({at, xmax, "", 0});
  return tier;
}

void refuse_overlaps(const Call& call) {
  std::map<std::string, const Segment*> last;
  std::vector<size_t> order(call.segments.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return call.segments[a].start_s < call.segments[b].start_s;
  });
  for (size_t i : order) {
    const Segment& s = call.segments[i];
    auto [it, fresh] = last.emplace(s.speaker, &s);
    if (!fresh && s.start_s < it->second->end_s)
      throw DataError("call " + printable(call.call_id) + ", segment " + std::to_string(i) +
                      ": the " + s.speaker + " segment from " + format_number(s.start_s) +
                      " s overlaps the one before it (ends " + format_number(it->second->end_s) +
                      " s); a TextGrid tier cannot hold overlapping intervals: fix the times or "
                      "export to label-studio");
    if (fresh || s.end_s > it->second->end_s) it->second = &s;
  }
}

/// One tier per speaker role, in order of first appearance: the words.
void add_role_tiers(const Call& call, double xmax, TextGrid& grid) {
  std::vector<std::string> roles;
  for (const auto& s : call.segments)
    if (std::find(roles.begin(), roles.end(), s.speaker) == roles.end()) roles.push_back(s.speaker);
  for (const auto& role : roles) {
    std::vector<Stretch> words;
    for (const auto& s : call.segments)
      if (s.speaker == role)
        words.push_back({s.start_s, s.end_s,
                         s.text && !trim(*s.text).empty() ? *s.text : std::string(kNoTranscript)});
    grid.tiers.push_back(filled_tier(role, std::move(words), xmax));
  }
}

/// A task's tiers: the resolved labels, each annotator's, and the model's.
void add_task_tiers(const Call& call, const Task& task, const std::map<int, json>* preds,
                    double xmax, TextGrid& grid) {
  std::map<std::string, std::vector<Stretch>> tiers;  // tier name -> labels
  std::vector<Stretch> predicted;
  const std::string at(kAnnotatorSeparator);
  for (size_t i = 0; i < call.segments.size(); ++i) {
    const Segment& s = call.segments[i];
    auto name_of = [&](int cls) { return task.classes.at(size_t(cls)); };
    if (auto it = s.labels.find(task.name); it != s.labels.end())
      tiers[task.name].push_back({s.start_s, s.end_s, name_of(it->second)});
    for (const auto& [who, labels] : s.labels_by)
      if (auto it = labels.find(task.name); it != labels.end())
        tiers[task.name + at + who].push_back({s.start_s, s.end_s, name_of(it->second)});
    const json* p = preds && preds->count(int(i)) ? &preds->at(int(i)) : nullptr;
    if (p && p->contains(task.name)) {
      auto [decision, prob] = decision_of((*p)[task.name], task);
      predicted.push_back({s.start_s, s.end_s, decision + " " + score_text(prob)});
    }
  }
  if (tiers.count(task.name))  // the resolved labels first, then each annotator's
    grid.tiers.push_back(filled_tier(task.name, std::move(tiers[task.name]), xmax));
  for (auto& [name, stretches] : tiers)
    if (name != task.name) grid.tiers.push_back(filled_tier(name, std::move(stretches), xmax));
  if (!predicted.empty())
    grid.tiers.push_back(
        filled_tier(task.name + std::string(kPredictedSuffix), std::move(predicted), xmax));
}

/// A task's suspects, `given -> suggested score` on the segment's interval.
void add_suspect_tier(const Call& call, const Task& task, const std::vector<Suspect>* suspects,
                      double xmax, TextGrid& grid) {
  if (!suspects) return;
  std::vector<Stretch> marks;
  for (const auto& s : *suspects) {
    if (s.task->name != task.name) continue;
    const Segment& seg = call.segments.at(size_t(s.segment));
    marks.push_back({seg.start_s, seg.end_s,
                     s.given + " -> " + s.suggested + " " + score_text(s.score)});
  }
  if (!marks.empty())
    grid.tiers.push_back(
        filled_tier(task.name + std::string(kSuspectSuffix), std::move(marks), xmax));
}

TextGrid call_textgrid(const Call& call, const Schema& schema, const std::map<int, json>* preds,
                       const std::vector<Suspect>* suspects, double xmax) {
  TextGrid grid;
  grid.xmax = xmax;
  add_role_tiers(call, xmax, grid);
  for (const auto& task : schema.tasks) {
    add_task_tiers(call, task, preds, xmax, grid);
    add_suspect_tier(call, task, suspects, xmax, grid);
  }
  return grid;
}

/// The end of the TextGrid: the recording's duration, or the last segment's end.
double call_end(const Dataset& dataset, const Call& call) {
  double end = 0;
  for (const auto& s : call.segments) end = std::max(end, s.end_s);
  if (!call.audio.empty()) {
    try {
      end = std::max(end, probe_audio(dataset.root / call.audio).duration_s());
    } catch (const DataError&) {
    }
  }
  return end > 0 ? end : 1;
}

void link_or_throw(const fs::path& target, const fs::path& link) {
  std::error_code ec;
  fs::create_directories(link.parent_path(), ec);
  fs::create_symlink(target, link, ec);
  if (ec) throw IoError("cannot link " + link.string() + " to " + target.string() + ": " +
                        ec.message());
}

/// The value of `key` in `map`, or nullptr.
template <class Map>
const typename Map::mapped_type* find_in(const Map& map, const std::string& key) {
  const auto it = map.find(key);
  return it == map.end() ? nullptr : &it->second;
}

void write_textgrids(const Dataset& dataset, const Predictions& preds, const Suspects& suspects,
                     const fs::path& dir) {
  for (const auto& call : dataset.calls) {
    refuse_overlaps(call);
    const fs::path base = call.split.empty() ? dir : dir / call.split;
    const fs::path file = base / (call.call_id + ".TextGrid");
    const TextGrid grid =
        call_textgrid(call, dataset.schema, find_in(preds, call.call_id),
                      find_in(suspects, call.call_id), call_end(dataset, call));
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    write_file_atomic(file, textgrid_to_text(grid));
    if (!call.audio.empty())
      link_or_throw(fs::weakly_canonical(fs::absolute(dataset.root / call.audio)),
                    base / (call.call_id + fs::path(call.audio).extension().string()));
  }
}

// --- Label Studio --------------------------------------------------------------------------

json region_value(const Segment& s, const Call& call) {
  json v = {{"start", s.start_s}, {"end", s.end_s}};
  if (auto it = call.channels.find(s.speaker); it != call.channels.end()) v["channel"] = it->second;
  return v;
}

json result(const std::string& id, const std::string& from, const std::string& type, json value) {
  return {{"id", id}, {"from_name", from}, {"to_name", "audio"}, {"type", type},
          {"origin", "manual"}, {"value", std::move(value)}};
}

/// A region's results: its speaker, its transcript (`with_text`), its labels of `labels`.
void add_region(json& results, size_t index, const Segment& s, const Call& call,
                const Schema& schema, const std::map<std::string, int>& labels, bool with_text) {
  const std::string id = "s" + std::to_string(index);
  json v = region_value(s, call);
  v["labels"] = {s.speaker};
  results.push_back(result(id, "speaker", "labels", v));
  v.erase("labels");
  if (with_text && s.text && !s.text->empty()) {
    json t = v;
    t["text"] = {*s.text};
    results.push_back(result(id, "transcript", "textarea", t));
  }
  for (const auto& [task, cls] : labels) {
    json c = v;
    c["choices"] = {schema.find(task)->classes.at(size_t(cls))};
    results.push_back(result(id, task, "choices", c));
  }
}

json prediction(const Call& call, const Schema& schema, const std::map<int, json>& preds,
                const std::string& model_version) {
  json results = json::array();
  double sum = 0;
  size_t n = 0;
  for (const auto& [i, tasks] : preds) {
    const Segment& s = call.segments.at(size_t(i));
    for (const auto& task : schema.tasks) {
      if (!tasks.contains(task.name)) continue;
      auto [decision, p] = decision_of(tasks[task.name], task);
      json v = region_value(s, call);
      v["choices"] = {decision};
      json r = result("s" + std::to_string(i), task.name, "choices", v);
      r["origin"] = "prediction";
      r["score"] = p;
      results.push_back(r);
      sum += p;
      ++n;
    }
  }
  return {{"model_version", model_version}, {"score", n ? sum / double(n) : 0.0},
          {"result", results}};
}

/// A review's suspects of one call as a prediction: per suspect the suggested class with its
/// score, and the given class in the region's meta (shown beside the region).
json suspects_prediction(const Call& call, const std::vector<Suspect>& suspects,
                         const std::string& model_version) {
  json results = json::array();
  double sum = 0;
  for (const auto& s : suspects) {
    json v = region_value(call.segments.at(size_t(s.segment)), call);
    v["choices"] = {s.suggested};
    json r = result("s" + std::to_string(s.segment), s.task->name, "choices", v);
    r["origin"] = "prediction";
    r["score"] = s.score;
    r["meta"] = {{"text", "suspect " + std::to_string(s.rank) + ": given " + s.given +
                              ", suggested " + s.suggested + " (score " + score_text(s.score) +
                              ")"}};
    results.push_back(r);
    sum += s.score;
  }
  return {{"model_version", model_version},
          {"score", suspects.empty() ? 0.0 : sum / double(suspects.size())},
          {"result", results}};
}

/// What a Label Studio task carries beside the call: a run's predictions, a review's suspects.
struct TaskExtras {
  const std::map<int, json>* predictions = nullptr;
  std::string model_version;
  const std::vector<Suspect>* suspects = nullptr;
  std::string review_version;
};

json call_task(const Call& call, const Schema& schema, const TaskExtras& extras) {
  json data = {{"audio", call.audio}, {"call_id", call.call_id}};
  if (!call.split.empty()) data["split"] = call.split;
  if (!call.channels.empty()) data["channels"] = call.channels;
  if (!call.meta.empty()) data["meta"] = call.meta;
  // The ground truth carries every segment (speaker, transcript, resolved labels); each
  // annotator's annotation the segments they labelled.
  json truth = json::array();
  std::map<std::string, json> by;
  for (size_t i = 0; i < call.segments.size(); ++i) {
    const Segment& s = call.segments[i];
    add_region(truth, i, s, call, schema, s.labels, true);
    for (const auto& [who, labels] : s.labels_by) {
      auto [it, fresh] = by.emplace(who, json::array());
      const size_t first = it->second.size();
      add_region(it->second, i, s, call, schema, labels, false);
      // Label Studio replaces an imported annotation's completed_by with the importing user
      // (and refuses unknown users) but keeps each result's meta: the annotator travels there.
      for (size_t k = first; k < it->second.size(); ++k)
        it->second[k]["meta"] = {{"annotator", who}};
    }
  }
  json annotations = json::array({{{"ground_truth", true}, {"result", truth}}});
  for (auto& [who, results] : by)
    annotations.push_back({{"ground_truth", false}, {"result", std::move(results)}});
  json task = {{"data", data}, {"annotations", annotations}};
  json predictions = json::array();
  if (extras.predictions)
    predictions.push_back(prediction(call, schema, *extras.predictions, extras.model_version));
  if (extras.suspects)
    predictions.push_back(suspects_prediction(call, *extras.suspects, extras.review_version));
  if (!predictions.empty()) task["predictions"] = std::move(predictions);
  return task;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

/// The labelling configuration the tasks are written for (Label Studio's project settings).
std::string label_config(const Dataset& dataset) {
  std::set<std::string> roles;
  bool channels = false;
  for (const auto& call : dataset.calls) {
    channels = channels || !call.channels.empty();
    for (const auto& s : call.segments) roles.insert(s.speaker);
  }
  for (const auto& t : dataset.schema.tasks) roles.insert(t.speaker);
  std::string x = "<View>\n  <Labels name=\"speaker\" toName=\"audio\">\n";
  for (const auto& r : roles) x += "    <Label value=\"" + xml_escape(r) + "\"/>\n";
  x += "  </Labels>\n  <Audio name=\"audio\" value=\"$audio\"";
  x += channels ? " splitchannels=\"true\"/>\n" : "/>\n";
  x += "  <TextArea name=\"transcript\" toName=\"audio\" perRegion=\"true\" editable=\"true\"/>\n";
  for (const auto& t : dataset.schema.tasks) {
    x += "  <Choices name=\"" + xml_escape(t.name) + "\" toName=\"audio\" perRegion=\"true\" "
         "choice=\"single\">\n";
    for (const auto& c : t.classes) x += "    <Choice value=\"" + xml_escape(c) + "\"/>\n";
    x += "  </Choices>\n";
  }
  return x + "</View>\n";
}

void write_label_studio(const Dataset& dataset, const Predictions& preds,
                        const Suspects& suspects, const ExportOptions& options,
                        const fs::path& dir) {
  json tasks = json::array();
  std::set<std::string> tops;
  TaskExtras extras;
  extras.model_version = options.model_version.empty() ? options.predictions.filename().string()
                                                       : options.model_version;
  extras.review_version = options.review.filename().string();
  for (const auto& call : dataset.calls) {
    extras.predictions = find_in(preds, call.call_id);
    extras.suspects = find_in(suspects, call.call_id);
    tasks.push_back(call_task(call, dataset.schema, extras));
    if (!call.audio.empty()) tops.insert(fs::path(call.audio).lexically_normal().begin()->string());
  }
  write_file_atomic(dir / "tasks.json",
                    tasks.dump(1, ' ', false, json::error_handler_t::replace) + "\n");
  write_file_atomic(dir / "label-config.xml", label_config(dataset));
  for (const auto& top : tops)
    link_or_throw(fs::weakly_canonical(fs::absolute(dataset.root / top)), dir / top);
}

}  // namespace

size_t export_dataset(const Dataset& all, const ExportOptions& options, const fs::path& out_arg) {
  std::error_code ec;
  const fs::path out = new_output_directory(out_arg);
  refuse_output_inside_dataset(all.root, out);
  if (options.to == LabelTool::kElan)
    throw UsageError("export to elan is not supported; export to textgrid (ELAN imports "
                     "TextGrids: File > Import > Praat TextGrid) or label-studio");
  if (options.top > 0 && options.review.empty())
    throw UsageError("--top keeps the first suspects of a review; pass --review review.json too");
  const Suspects suspects = read_suspects(options.review, options.top, all);
  const Dataset dataset = calls_to_export(all, suspects, !options.review.empty());
  if (!options.review.empty() && dataset.calls.empty())
    throw DataError(options.review.string() + ": the review lists no suspects, so there is "
                    "nothing to re-label; export without --review for the whole dataset");
  for (const auto& call : dataset.calls)
    if (!path_stays_inside(call.call_id))
      throw DataError("call id '" + printable(call.call_id) + "' cannot be a file name inside "
                      "the export; rename the call");
  const Predictions preds = read_predictions(options.predictions, all);
  fs::create_directories(out.parent_path(), ec);
  TemporaryPath temp(temp_path_for_output(out));
  fs::create_directory(temp.path(), ec);
  if (ec) throw IoError("cannot create " + temp.path().string() + ": " + ec.message());
  if (options.to == LabelTool::kTextGrid) {
    write_textgrids(dataset, preds, suspects, temp.path());
  } else {
    write_label_studio(dataset, preds, suspects, options, temp.path());
  }
  publish_directory(temp.path(), out);
  temp.keep();
  return dataset.calls.size();
}

}  // namespace tenor::data
