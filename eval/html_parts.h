#pragma once
// Pieces shared by the report page (report_html.cpp), the call pages (report_calls.cpp) and
// report.json (report_json.cpp): the style sheet, number formats, table rows, a task's
// per-segment score and decision, the worst errors and the per-class precision-recall curves
// of a task, so that the page and the JSON show the same. Internal to tenor::eval.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "eval/evaluate.h"
#include "eval/xml_writer.h"

namespace tenor::eval::html {

/// The page's CSS. No '<' or '&': it is written raw into a document that must parse as XML.
extern const char* const kCss;

/// A number with 3 decimals, "n/a" when not finite.
std::string f3(double v);
/// "[lo, hi]" or "n/a".
std::string interval_text(double lo, double hi);
/// One table row; the first cell left-aligned.
void row(XmlWriter& w, const std::vector<std::string>& cells, bool header = false);
/// The page's head (title, style) and opens <body>; the caller closes body and html.
void open_page(XmlWriter& w, const std::string& title);

/// Whether segment `i` is scored for `task`: its speaker is the task's role (any speaker
/// when the task names none).
bool scored_for(const EvalSet& set, const TaskPredictions& task, size_t i);
/// The score plotted and ranked for a task: P(class 1) for binary tasks, P(class 1 or above)
/// for ordinal ones, the probability of the decision for categorical ones; and its name.
double task_score(std::span<const double> row, data::TaskType type);
std::string score_name(const TaskReport& r);
/// The decision on segment `i` under the report's scored probabilities and threshold.
int decision(const TaskReport& r, size_t i);
/// A segment's time span, "12.3-15.0 s".
std::string time_span(const EvalSet& set, size_t i);

/// A confident error: segment `index` and the score it was ranked by.
struct ErrorRow {
  size_t index;
  double score;
};
/// The worst errors of a task, at most `n` of each kind, most confident first. Binary and
/// ordinal tasks: false alarms (labelled the first class, decided another; highest score
/// first) and misses (labelled above the first class, decided the first; lowest score first).
/// Categorical tasks: every wrong decision, by the probability of the decision, in `alarms`.
struct WorstErrors {
  std::vector<ErrorRow> alarms, misses;
};
WorstErrors worst_errors(const TaskReport& r, const TaskPredictions& task, const EvalSet& set,
                         size_t n);

/// One class against the rest: its labelled segments, average precision (NaN without any) and
/// precision-recall curve (x recall, y precision; empty without any).
struct ClassPr {
  size_t support = 0;
  double average_precision = 0;
  std::vector<double> recall, precision;
};
/// Per class of the task, on the scored probabilities of the labelled segments (unit weights).
std::vector<ClassPr> class_pr_curves(const TaskReport& r, const TaskPredictions& task);

/// <a href="calls/ID.html">ID</a> when call pages are written, else the plain id.
void call_link(XmlWriter& w, const std::string& call_id, bool links);

}  // namespace tenor::eval::html
