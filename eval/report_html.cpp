#include <algorithm>
#include <cmath>
#include <map>

#include "eval/plots.h"
#include "eval/report.h"

namespace tenor::eval {
namespace {

// No '<' or '&' here: the style block is written raw into a document that must parse as XML.
constexpr const char* kCss = R"(
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 8px 0 16px 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; }
td.l, th.l { text-align: left; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
svg { font-size: 11px; background: #fff; }
svg .t { font-size: 13px; font-weight: bold; }
.note { color: #a00; }
.flag { color: #d62728; font-weight: bold; }
)";

std::string f3(double v) { return std::isfinite(v) ? svg_number(v, 3) : "n/a"; }

std::string interval_text(double lo, double hi) {
  return std::isfinite(lo) ? "[" + svg_number(lo, 3) + ", " + svg_number(hi, 3) + "]" : "n/a";
}

void row(XmlWriter& w, const std::vector<std::string>& cells, bool header = false) {
  w.open("tr");
  for (size_t i = 0; i < cells.size(); ++i)
    w.element(header ? "th" : "td", i == 0 ? XmlAttrs{{"class", "l"}} : XmlAttrs{}, cells[i]);
  w.close();
}

void metrics_table(XmlWriter& w, const TaskReport& r, double confidence) {
  w.open("table");
  row(w,
      {"metric", "value", svg_number(100 * confidence, 1) + "% interval (call bootstrap)",
       "defined resamples"},
      true);
  for (const MetricInfo& info : metric_infos()) {
    if (!applies(info.id, r.type)) continue;
    const size_t m = static_cast<size_t>(info.id);
    const Interval& ci = r.bootstrap.intervals[m];
    row(w, {info.name, f3(r.bootstrap.point[m]), interval_text(ci.lo, ci.hi),
            std::to_string(ci.valid_resamples)});
  }
  row(w, {"ece (raw)", f3(r.calibration.ece), "", ""});
  if (r.calibration_scaled)
    row(w, {"ece (T = " + svg_number(r.temperature->temperature, 3) + ")",
            f3(r.calibration_scaled->ece), "", ""});
  w.close();

  w.open("table");
  row(w, {"class", "precision", "recall", "F1", "support"}, true);
  for (size_t k = 0; k < r.classes.size(); ++k) {
    const ClassScores& s = r.metrics.per_class[k];
    row(w, {r.classes[k], f3(s.precision), f3(s.recall), f3(s.f1), svg_number(s.support, 0)});
  }
  w.close();
}

void timelines(XmlWriter& w, const TaskReport& r, const EvalSet& test, const TaskPredictions& task,
               const TimelineConfig& config, int max_calls) {
  const TimelineMetrics& t = *r.timeline;
  w.element("h3", {}, "Escalation timeline");
  w.open("table");
  row(w,
      {"calls", "with escalation", "alerted", "alerted in time", "median lead (s)", "false alarms",
       "false alarms / hour"},
      true);
  row(w, {std::to_string(t.calls), std::to_string(t.calls_with_escalation),
          std::to_string(t.calls_alerted), std::to_string(t.calls_alerted_early),
          f3(t.median_lead_time_s), std::to_string(t.false_alarms), f3(t.false_alarms_per_hour)});
  w.close();
  // Escalated calls first, then the others, in report order.
  std::vector<const CallTimeline*> chosen;
  for (int pass = 0; pass < 2; ++pass)
    for (const CallTimeline& c : t.per_call)
      if (static_cast<int>(chosen.size()) < max_calls &&
          std::isnan(c.first_escalation_s) == (pass == 1))
        chosen.push_back(&c);
  const Segments& s = test.segments;
  const size_t c = task.num_classes();
  const int escalated = task.type == data::TaskType::kBinary ? 1 : config.escalated_class;
  w.open("div", {{"class", "plots"}});
  for (const CallTimeline* call : chosen) {
    std::vector<uint32_t> segs;
    for (uint32_t i = 0; i < s.size(); ++i)
      if (s.call_ids[i] == call->call_id &&
          (config.speaker.empty() || s.speakers[i] == config.speaker))
        segs.push_back(i);
    std::stable_sort(segs.begin(), segs.end(),
                     [&](uint32_t a, uint32_t b) { return s.start_s[a] < s.start_s[b]; });
    Axes a;
    a.title = "call " + call->call_id;
    a.x_label = "time (s)";
    a.y_label = "P(escalated)";
    a.x_min = 0.0;
    a.x_max = 1.0;
    a.hlines = {t.threshold};
    Series series;
    series.name = "score";
    series.markers = true;
    for (uint32_t i : segs) {
      const double mid = (s.start_s[i] + s.end_s[i]) / 2;
      series.x.push_back(mid);
      series.y.push_back(escalated_probability(
          std::span<const double>(r.scored_probs).subspan(i * c, c), task.type, escalated));
      a.x_max = std::max(a.x_max, s.end_s[i]);
      if (task.labels[i] >= escalated) a.x_bands.emplace_back(s.start_s[i], s.end_s[i]);
    }
    line_plot(w, a, std::span<const Series>(&series, 1));
  }
  w.close();
  w.element("p", {},
            "Dots: segment scores at segment mid-points; red bands: segments labelled "
            "escalated; dashed line: alert threshold.");
}

/// The ROC and precision-recall curves of a binary task, thinned to 500 points each.
void binary_curves(XmlWriter& w, const TaskReport& r) {
  Series roc{"ROC", r.roc.x, r.roc.y};
  thin(roc.x, roc.y, 500);
  Axes a;
  a.title = "ROC, AUROC " + f3(r.bootstrap.point[static_cast<size_t>(Metric::kAuroc)]);
  a.x_label = "false positive rate";
  a.y_label = "true positive rate";
  a.diagonal = true;
  line_plot(w, a, std::span<const Series>(&roc, 1));
  Series pr{"PR", r.pr.x, r.pr.y, "#9467bd"};
  thin(pr.x, pr.y, 500);
  a.title = "PR, AP " + f3(r.bootstrap.point[static_cast<size_t>(Metric::kAuprc)]);
  a.x_label = "recall";
  a.y_label = "precision";
  a.diagonal = false;
  line_plot(w, a, std::span<const Series>(&pr, 1));
}

/// The plots of one task: confusion, reliability (raw and scaled), and the binary curves.
void task_plots(XmlWriter& w, const TaskReport& r) {
  w.open("div", {{"class", "plots"}});
  confusion_heatmap(w, "Confusion: " + r.name, r.confusion, r.classes);
  reliability_diagram(w, "Reliability (raw)", r.calibration);
  if (r.calibration_scaled)
    reliability_diagram(w, "Reliability (T = " + svg_number(r.temperature->temperature, 3) + ")",
                        *r.calibration_scaled);
  if (r.type == data::TaskType::kBinary) binary_curves(w, r);
  w.close();
}

/// One row per slice: calls, the metric shown (macro-F1, or a single-class slice's recall of
/// its class), its interval and slice_note; flagged rows in red.
void slice_table(XmlWriter& w, const TaskReport& r) {
  w.open("table");
  row(w, {"slice", "labelled", "calls", "metric", "value", "interval", "note"}, true);
  for (const SliceResult& s : r.slices) {
    const bool one = s.single_class >= 0;
    const Interval& ci = one ? s.class_recall_interval : s.interval;
    const std::string note = slice_note(s, r.classes);
    w.open("tr", s.flagged != 0 ? XmlAttrs{{"class", "flag"}} : XmlAttrs{});
    w.element("td", {{"class", "l"}}, s.field + " = " + s.value);
    for (const std::string& cell :
         {std::to_string(s.n_labelled), std::to_string(s.n_calls),
          std::string(one ? "recall of " + r.classes[size_t(s.single_class)] : "macro-F1"),
          s.empty ? std::string("n/a") : f3(one ? s.class_recall : s.macro_f1),
          interval_text(ci.lo, ci.hi)})
      w.element("td", {}, cell);
    w.element("td", {{"class", "l"}}, note);
    w.close();
  }
  w.close();
}

/// The slices of one task: the fields too varied to slice, then macro-F1 per slice as bars
/// against the overall interval (single-class slices, whose macro-F1 is fixed by
/// construction, left out) and a table with each slice's calls and slice_note.
void task_slices(XmlWriter& w, const EvalReport& report, const TaskReport& r) {
  if (!r.slices.empty() || !report.unsliced_fields.empty()) {
    w.element("h3", {}, "Slices");
    for (const auto& [field, values] : report.unsliced_fields)
      w.element("p", {},
                "meta." + field + " is not sliced: " + std::to_string(values) +
                    " distinct values (more than " +
                    std::to_string(report.config.max_slice_values) +
                    "), too many for per-value intervals to mean anything.");
  }
  if (r.slices.empty()) return;
  std::vector<BarRow> bars;
  for (const SliceResult& s : r.slices)
    if (s.single_class < 0)
      bars.push_back({s.field + " = " + s.value + " (" + std::to_string(s.n_calls) + " calls)",
                      s.macro_f1, s.interval.lo, s.interval.hi, s.flagged != 0});
  const Interval& o = r.bootstrap.intervals[static_cast<size_t>(Metric::kMacroF1)];
  if (!bars.empty())
    interval_bars(w, "macro-F1 per slice: " + r.name, bars,
                  r.bootstrap.point[static_cast<size_t>(Metric::kMacroF1)], o.lo, o.hi);
  slice_table(w, r);
  w.element("p", {},
            "A slice is flagged (red) when its own " +
                svg_number(100 * report.config.bootstrap.confidence, 1) +
                "% interval and the overall one do not overlap; slices of fewer than " +
                std::to_string(report.config.min_slice_calls) +
                " calls are marked small and never flagged.");
}

/// One task's section: its heading and counts, then (unless a note says why there is nothing
/// to show) metrics, plots, slices and timelines.
void task_section(XmlWriter& w, const EvalReport& report, const TaskReport& r,
                  const EvalSet& test, int max_timeline_calls) {
  const TaskPredictions& task = test.task(r.name);
  w.open("section");
  w.element("h2", {}, "Task " + r.name + " (" + data::to_string(r.type) + ")");
  w.element("p", {},
            std::to_string(r.n_labelled) + " labelled segments in " + std::to_string(r.n_calls) +
                " calls" +
                (r.type == data::TaskType::kBinary
                     ? "; decision threshold " + svg_number(r.threshold, 4) + " (" +
                           r.threshold_source + ")"
                     : ""));
  if (!r.note.empty()) {
    w.element("p", {{"class", "note"}}, r.note);
    w.close();
    return;
  }
  metrics_table(w, r, report.config.bootstrap.confidence);
  task_plots(w, r);
  task_slices(w, report, r);
  if (r.timeline) timelines(w, r, test, task, report.config.timeline, max_timeline_calls);
  w.close();
}

}  // namespace

std::string to_html(const EvalReport& report, const EvalSet& test, int max_timeline_calls) {
  XmlWriter w;
  w.raw("<!DOCTYPE html>\n");
  w.open("html", {{"xmlns", "http://www.w3.org/1999/xhtml"}, {"lang", "en"}});
  w.open("head");
  w.leaf("meta", {{"charset", "utf-8"}});
  w.element("title", {}, "tenor evaluation report");
  w.open("style").raw(kCss).close();
  w.close();
  w.open("body");
  w.element("h1", {}, "tenor evaluation report");
  const BootstrapConfig& b = report.config.bootstrap;
  w.element("p", {},
            std::to_string(report.n_segments) + " segments in " + std::to_string(report.n_calls) +
                " calls; intervals: " + std::to_string(b.resamples) +
                " call-bootstrap resamples, percentile method, seed " + std::to_string(b.seed) +
                (report.has_dev ? "; temperature and threshold fitted on the " + report.rules_fitted_on
                                : std::string("; uncalibrated (") + report.rules_fitted_on + ")"));
  for (const TaskReport& r : report.tasks) task_section(w, report, r, test, max_timeline_calls);
  w.close();  // body
  w.close();  // html
  return w.finish();
}

}  // namespace tenor::eval
