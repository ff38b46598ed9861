#include "eval/html_parts.h"

#include <algorithm>
#include <cmath>

#include "eval/bootstrap.h"
#include "eval/report.h"

namespace tenor::eval::html {

const char* const kCss = R"(
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 8px 0 16px 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; vertical-align: top; }
th { background: #f3f3f3; }
td.l, th.l { text-align: left; }
td.text { text-align: left; min-width: 220px; max-width: 520px; }
td.time { white-space: nowrap; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
svg { font-size: 11px; background: #fff; }
svg .t { font-size: 13px; font-weight: bold; }
svg .n { font-size: 9px; }
.note { color: #a00; }
.flag { color: #d62728; font-weight: bold; }
tr.wrong td { background: #fdecea; }
audio.missing { outline: 2px solid #d62728; }
audio { height: 28px; width: 220px; }
)";

std::string f3(double v) { return std::isfinite(v) ? svg_number(v, 3) : "n/a"; }

std::string interval_text(double lo, double hi) {
  return std::isfinite(lo) ? "[" + svg_number(lo, 3) + ", " + svg_number(hi, 3) + "]" : "n/a";
}

void row(XmlWriter& w, const std::vector<std::string>& cells, bool header) {
  w.open("tr");
  for (size_t i = 0; i < cells.size(); ++i)
    w.element(header ? "th" : "td", i == 0 ? XmlAttrs{{"class", "l"}} : XmlAttrs{}, cells[i]);
  w.close();
}

void open_page(XmlWriter& w, const std::string& title) {
  w.raw("<!DOCTYPE html>\n");
  w.open("html", {{"xmlns", "http://www.w3.org/1999/xhtml"}, {"lang", "en"}});
  w.open("head");
  w.leaf("meta", {{"charset", "utf-8"}});
  w.element("title", {}, title);
  w.open("style").raw(kCss).close();
  w.close();
  w.open("body");
}

bool scored_for(const EvalSet& set, const TaskPredictions& task, size_t i) {
  return task.speaker.empty() || set.segments.speakers[i] == task.speaker;
}

double task_score(std::span<const double> row, data::TaskType type) {
  if (type == data::TaskType::kBinary) return row[1];
  if (type == data::TaskType::kOrdinal) {
    double above = 0.0;
    for (size_t k = 1; k < row.size(); ++k) above += row[k];
    return above;
  }
  return *std::max_element(row.begin(), row.end());
}

std::string score_name(const TaskReport& r) {
  if (r.type == data::TaskType::kBinary) return "P(" + r.classes[1] + ")";
  if (r.type == data::TaskType::kOrdinal) return "P(" + r.classes[1] + " or above)";
  return "P(decision)";
}

int decision(const TaskReport& r, size_t i) {
  const size_t c = r.classes.size();
  return predict(std::span<const double>(r.scored_probs).subspan(i * c, c), r.type, r.threshold);
}

std::string time_span(const EvalSet& set, size_t i) {
  return svg_number(set.segments.start_s[i], 1) + "-" + svg_number(set.segments.end_s[i], 1) +
         " s";
}

WorstErrors worst_errors(const TaskReport& r, const TaskPredictions& task, const EvalSet& set,
                         size_t n) {
  WorstErrors out;
  const size_t c = r.classes.size();
  const bool categorical = r.type == data::TaskType::kCategorical;
  for (size_t i = 0; i < task.labels.size(); ++i) {
    const int label = task.labels[i];
    if (label < 0 || !scored_for(set, task, i)) continue;
    const int d = decision(r, i);
    const auto p = std::span<const double>(r.scored_probs).subspan(i * c, c);
    if (categorical && d != label) out.alarms.push_back({i, p[size_t(d)]});
    if (categorical) continue;
    if (label == 0 && d > 0) out.alarms.push_back({i, task_score(p, r.type)});
    if (label > 0 && d == 0) out.misses.push_back({i, task_score(p, r.type)});
  }
  // Most confident first; ties in set order, so the tables are the same on every platform.
  auto by = [](bool descending) {
    return [descending](const ErrorRow& a, const ErrorRow& b) {
      return descending ? a.score > b.score : a.score < b.score;
    };
  };
  std::stable_sort(out.alarms.begin(), out.alarms.end(), by(true));
  std::stable_sort(out.misses.begin(), out.misses.end(), by(false));
  if (out.alarms.size() > n) out.alarms.resize(n);
  if (out.misses.size() > n) out.misses.resize(n);
  return out;
}

std::vector<ClassPr> class_pr_curves(const TaskReport& r, const TaskPredictions& task) {
  const size_t c = r.classes.size();
  const std::vector<double> weight = {1.0};
  std::vector<ClassPr> out;
  for (size_t k = 0; k < c; ++k) {
    std::vector<double> scores;
    std::vector<uint8_t> positive;
    for (size_t i = 0; i < task.labels.size(); ++i) {
      if (task.labels[i] < 0) continue;
      scores.push_back(r.scored_probs[i * c + k]);
      positive.push_back(task.labels[i] == static_cast<int>(k));
    }
    ClassPr pr;
    pr.support = static_cast<size_t>(std::count(positive.begin(), positive.end(), 1));
    const std::vector<uint32_t> calls(scores.size(), 0);
    const RankedScores ranked(scores, positive, calls);
    pr.average_precision = pr.support ? ranked.average_precision(weight) : NAN;
    if (pr.support > 0) {
      auto curve = ranked.pr_curve();
      pr.recall = std::move(curve.x);
      pr.precision = std::move(curve.y);
    }
    out.push_back(std::move(pr));
  }
  return out;
}

void call_link(XmlWriter& w, const std::string& call_id, bool links) {
  if (!links) {
    w.text(call_id);
    return;
  }
  w.element("a", {{"href", call_page_path(call_id)}}, call_id);
}

}  // namespace tenor::eval::html
