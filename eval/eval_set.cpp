#include "eval/eval_set.h"

#include <cmath>
#include <map>
#include <tuple>

#include "core/error.h"
#include "core/text.h"

namespace tenor::eval {

const TaskPredictions& EvalSet::task(const std::string& name) const {
  std::vector<std::string> names;
  for (const auto& t : tasks) {
    if (t.name == name) return t;
    names.push_back(t.name);
  }
  std::string hint = nearest(name, names);
  throw UsageError("no task '" + printable(name) +
                   "' in the evaluation set (tasks: " + join(names, ", ") + ")" +
                   (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
}

namespace {

/// The error for a per-segment array `what` of `got` entries where there are `n` segments.
DataError size_error(const std::string& what, size_t got, size_t n) {
  return DataError("evaluation set: " + what + " has " + std::to_string(got) +
                   " entries, expected one per segment (" + std::to_string(n) + ")");
}

/// Checks the per-segment arrays' lengths and that every segment spans a finite interval.
void validate_segments(const Segments& s) {
  const size_t n = s.size();
  if (s.speakers.size() != n) throw size_error("speakers", s.speakers.size(), n);
  if (s.start_s.size() != n) throw size_error("start_s", s.start_s.size(), n);
  if (s.end_s.size() != n) throw size_error("end_s", s.end_s.size(), n);
  if (!s.meta.empty() && s.meta.size() != n) throw size_error("meta", s.meta.size(), n);
  if (!s.texts.empty() && s.texts.size() != n) throw size_error("texts", s.texts.size(), n);
  if (!s.indices.empty() && s.indices.size() != n) throw size_error("indices", s.indices.size(), n);
  for (size_t i = 0; i < n; ++i)
    if (!(std::isfinite(s.start_s[i]) && std::isfinite(s.end_s[i]) && s.end_s[i] >= s.start_s[i]))
      throw DataError("evaluation set: segment " + std::to_string(i) + " of call '" +
                      printable(s.call_ids[i]) + "' spans " + std::to_string(s.start_s[i]) +
                      " to " + std::to_string(s.end_s[i]) +
                      " s; times must be finite with end >= start");
}

/// Checks segment `i`'s label range and that its probabilities are a distribution.
void validate_row(const TaskPredictions& t, const std::string& where, size_t i) {
  const size_t c = t.num_classes();
  if (t.labels[i] < -1 || t.labels[i] >= static_cast<int>(c))
    throw DataError(where + ": segment " + std::to_string(i) + " has label " +
                    std::to_string(t.labels[i]) + ", expected -1 (unlabelled) or 0.." +
                    std::to_string(c - 1));
  double sum = 0.0;
  for (double p : t.prob_row(i)) {
    if (!(p >= 0.0 && p <= 1.0))
      throw DataError(where + ": segment " + std::to_string(i) + " has probability " +
                      format_number(p) + " outside [0, 1]; pass softmax outputs");
    sum += p;
  }
  if (std::abs(sum - 1.0) > 1e-3)
    throw DataError(where + ": segment " + std::to_string(i) + " probabilities sum to " +
                    format_number(sum) + ", expected 1; pass softmax outputs");
}

/// Checks one task's classes, its arrays' lengths for `n` segments, and every row.
void validate_task(const TaskPredictions& t, size_t n) {
  const size_t c = t.num_classes();
  const std::string where = "task '" + printable(t.name) + "'";
  if (c < 2)
    throw DataError(where + " has " + std::to_string(c) + " classes; a task needs at least 2");
  if (t.type == data::TaskType::kBinary && c != 2)
    throw DataError(where + " is binary but has " + std::to_string(c) +
                    " classes; give exactly 2 (class 1 is positive) or make it categorical");
  if (t.labels.size() != n) throw size_error(where + " labels", t.labels.size(), n);
  if (t.probs.size() != n * c) throw size_error(where + " probs / C", t.probs.size() / c, n);
  if (!t.logits.empty() && t.logits.size() != n * c)
    throw size_error(where + " logits / C", t.logits.size() / c, n);
  for (size_t i = 0; i < n; ++i) validate_row(t, where, i);
}

}  // namespace

void validate(const EvalSet& set) {
  validate_segments(set.segments);
  for (const TaskPredictions& t : set.tasks) validate_task(t, set.segments.size());
}

namespace {

bool has_task(const EvalSet& s, const std::string& name) {
  for (const auto& t : s.tasks)
    if (t.name == name) return true;
  return false;
}

/// The rows `rows` of `s`, with only the tasks `names` (in that order).
EvalSet subset(const EvalSet& s, const std::vector<size_t>& rows,
               const std::vector<std::string>& names) {
  EvalSet out;
  const Segments& g = s.segments;
  for (size_t r : rows) {
    out.segments.call_ids.push_back(g.call_ids[r]);
    out.segments.speakers.push_back(g.speakers[r]);
    out.segments.start_s.push_back(g.start_s[r]);
    out.segments.end_s.push_back(g.end_s[r]);
    if (!g.meta.empty()) out.segments.meta.push_back(g.meta[r]);
    if (!g.texts.empty()) out.segments.texts.push_back(g.texts[r]);
    if (!g.indices.empty()) out.segments.indices.push_back(g.indices[r]);
  }
  for (const auto& name : names) {
    const TaskPredictions& t = s.task(name);
    TaskPredictions u;
    u.name = t.name, u.type = t.type, u.classes = t.classes, u.speaker = t.speaker;
    const size_t c = t.num_classes();
    for (size_t r : rows) {
      u.labels.push_back(t.labels[r]);
      u.probs.insert(u.probs.end(), t.probs.begin() + long(r * c),
                     t.probs.begin() + long(r * c + c));
      if (!t.logits.empty())
        u.logits.insert(u.logits.end(), t.logits.begin() + long(r * c),
                        t.logits.begin() + long(r * c + c));
    }
    out.tasks.push_back(std::move(u));
  }
  return out;
}

}  // namespace

std::vector<std::string> restrict_to_shared_tasks(EvalSet& a, EvalSet& b) {
  std::vector<std::string> shared, dropped, names_a, names_b;
  for (const auto& t : a.tasks) {
    names_a.push_back(t.name);
    (has_task(b, t.name) ? shared : dropped).push_back(t.name);
  }
  for (const auto& t : b.tasks) {
    names_b.push_back(t.name);
    if (!has_task(a, t.name)) dropped.push_back(t.name);
  }
  if (shared.empty())
    throw DataError("run A (tasks " + join(names_a, ", ") + ") and run B (tasks " +
                    join(names_b, ", ") + ") share no task; compare runs of a common task");
  if (dropped.empty()) return dropped;
  using Key = std::tuple<std::string, std::string, double, double>;
  auto key = [](const Segments& g, size_t i) {
    return Key{g.call_ids[i], g.speakers[i], g.start_s[i], g.end_s[i]};
  };
  std::map<Key, size_t> in_b;
  for (size_t j = 0; j < b.segments.size(); ++j) in_b.emplace(key(b.segments, j), j);
  std::vector<size_t> rows_a, rows_b;
  for (size_t i = 0; i < a.segments.size(); ++i) {
    auto it = in_b.find(key(a.segments, i));
    if (it == in_b.end()) continue;
    bool labelled = false;
    for (const auto& name : shared) labelled |= a.task(name).labels[i] >= 0;
    if (labelled) rows_a.push_back(i), rows_b.push_back(it->second);
  }
  a = subset(a, rows_a, shared);
  b = subset(b, rows_b, shared);
  return dropped;
}

void append(EvalSet& into, const EvalSet& more) {
  if (into.tasks.size() != more.tasks.size())
    throw std::logic_error("eval::append: the sets hold different tasks");
  for (size_t k = 0; k < into.tasks.size(); ++k)
    if (into.tasks[k].name != more.tasks[k].name ||
        into.tasks[k].classes != more.tasks[k].classes ||
        into.tasks[k].logits.empty() != more.tasks[k].logits.empty())
      throw std::logic_error("eval::append: task " + into.tasks[k].name + " differs");
  // Optional columns stay only when both sets have them (or both sets were empty).
  const bool texts = into.segments.texts.size() == into.segments.size() &&
                     more.segments.texts.size() == more.segments.size();
  const bool indices = into.segments.indices.size() == into.segments.size() &&
                       more.segments.indices.size() == more.segments.size();
  auto extend = [](auto& a, const auto& b) { a.insert(a.end(), b.begin(), b.end()); };
  Segments& s = into.segments;
  extend(s.call_ids, more.segments.call_ids);
  extend(s.speakers, more.segments.speakers);
  extend(s.start_s, more.segments.start_s);
  extend(s.end_s, more.segments.end_s);
  extend(s.meta, more.segments.meta);
  if (texts) extend(s.texts, more.segments.texts);
  else s.texts.clear();
  if (indices) extend(s.indices, more.segments.indices);
  else s.indices.clear();
  for (size_t k = 0; k < into.tasks.size(); ++k) {
    extend(into.tasks[k].labels, more.tasks[k].labels);
    extend(into.tasks[k].probs, more.tasks[k].probs);
    extend(into.tasks[k].logits, more.tasks[k].logits);
  }
}

void require_same_segments(const EvalSet& a, const EvalSet& b) {
  const Segments &x = a.segments, &y = b.segments;
  if (x.call_ids != y.call_ids || x.speakers != y.speakers || x.start_s != y.start_s ||
      x.end_s != y.end_s)
    throw DataError(
        "the two runs were not evaluated on the same segments (call ids, speakers or times "
        "differ); evaluate both runs on the same split");
  if (a.tasks.size() != b.tasks.size())
    throw DataError("run A has " + std::to_string(a.tasks.size()) + " tasks and run B " +
                    std::to_string(b.tasks.size()) + "; compare runs of the same tasks");
  for (size_t k = 0; k < a.tasks.size(); ++k) {
    const auto &ta = a.tasks[k], &tb = b.tasks[k];
    if (ta.name != tb.name || ta.classes != tb.classes || ta.type != tb.type)
      throw DataError("task " + std::to_string(k) + " is '" + printable(ta.name) +
                      "' in run A and '" + printable(tb.name) +
                      "' in run B, or its classes differ; compare runs of the same tasks");
    if (ta.labels != tb.labels)
      throw DataError("task '" + printable(ta.name) +
                      "' has different labels in the two runs; compare on the same labels");
  }
}

}  // namespace tenor::eval
