#include <algorithm>
#include <cmath>
#include <map>

#include "eval/html_parts.h"
#include "eval/metrics.h"
#include "eval/plots.h"
#include "eval/report.h"

namespace tenor::eval {
namespace {

using html::f3;
using html::interval_text;
using html::row;

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

/// The calls whose timelines are drawn: escalated calls first, then the others, in report
/// order, at most `max_calls`.
std::vector<const CallTimeline*> timeline_calls(const TimelineMetrics& t, int max_calls) {
  std::vector<const CallTimeline*> chosen;
  for (int pass = 0; pass < 2; ++pass)
    for (const CallTimeline& c : t.per_call)
      if (static_cast<int>(chosen.size()) < max_calls &&
          std::isnan(c.first_escalation_s) == (pass == 1))
        chosen.push_back(&c);
  return chosen;
}

/// One call's escalation score over time on the timeline's speaker's segments.
void call_timeline_plot(XmlWriter& w, const TaskReport& r, const EvalSet& test,
                        const TaskPredictions& task, const TimelineConfig& config,
                        const std::string& call_id) {
  const Segments& s = test.segments;
  const size_t c = task.num_classes();
  const int escalated = task.type == data::TaskType::kBinary ? 1 : config.escalated_class;
  std::vector<uint32_t> segs;
  for (uint32_t i = 0; i < s.size(); ++i)
    if (s.call_ids[i] == call_id && (config.speaker.empty() || s.speakers[i] == config.speaker))
      segs.push_back(i);
  std::stable_sort(segs.begin(), segs.end(),
                   [&](uint32_t a, uint32_t b) { return s.start_s[a] < s.start_s[b]; });
  Axes a;
  a.title = "call " + call_id;
  a.x_label = "time (s)";
  a.y_label = "P(escalated)";
  a.hlines = {r.timeline->threshold};
  Series series{"", {}, {}, "#1f77b4", true};
  double end = 1.0;
  for (uint32_t i : segs) {
    series.x.push_back((s.start_s[i] + s.end_s[i]) / 2);
    series.y.push_back(escalated_probability(
        std::span<const double>(r.scored_probs).subspan(i * c, c), task.type, escalated));
    end = std::max(end, s.end_s[i]);
    if (task.labels[i] >= escalated) a.x_bands.emplace_back(s.start_s[i], s.end_s[i]);
  }
  a.x_max = nice_ceil(end);
  using Mark = LegendEntry::Mark;
  a.legend = {{"segment score", "#1f77b4", Mark::kDot},
              {"alert threshold", "#ff7f0e", Mark::kDashed},
              {"labelled escalated", "#d62728", Mark::kBar}};
  line_plot(w, a, std::span<const Series>(&series, 1));
}

void timelines(XmlWriter& w, const TaskReport& r, const EvalSet& test, const TaskPredictions& task,
               const TimelineConfig& config, const HtmlOptions& options) {
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
  w.open("div", {{"class", "plots"}});
  for (const CallTimeline* call : timeline_calls(t, options.max_timeline_calls)) {
    if (options.call_links) w.open("a", {{"href", call_page_path(call->call_id)}});
    call_timeline_plot(w, r, test, task, config, call->call_id);
    if (options.call_links) w.close();
  }
  w.close();
  w.element("p", {},
            std::string("Dots: segment scores at segment mid-points; red bands: segments labelled "
                        "escalated; dashed line: alert threshold.") +
                (options.call_links ? " Click a plot for the call's page." : ""));
}

/// The ROC curve of a binary task, thinned to 500 points.
void roc_curve(XmlWriter& w, const TaskReport& r) {
  Series roc{"", r.roc.x, r.roc.y};
  thin(roc.x, roc.y, 500);
  Axes a;
  a.title = "ROC, AUROC " + f3(r.bootstrap.point[static_cast<size_t>(Metric::kAuroc)]);
  a.x_label = "false positive rate";
  a.y_label = "true positive rate";
  a.diagonal = true;
  a.legend = {{"chance", "#999", LegendEntry::Mark::kDashed}};
  line_plot(w, a, std::span<const Series>(&roc, 1));
}

/// Precision-recall curves of every class against the rest (html::class_pr_curves), each with
/// its average precision and support.
void per_class_pr(XmlWriter& w, const TaskReport& r, const TaskPredictions& task) {
  std::vector<Series> series;
  const auto curves = html::class_pr_curves(r, task);
  for (size_t k = 0; k < curves.size(); ++k) {
    const html::ClassPr& pr = curves[k];
    Series s{r.classes[k] + " (AP " + f3(pr.average_precision) + ", " +
                 std::to_string(pr.support) + " segments)",
             pr.recall, pr.precision, series_color(k)};
    thin(s.x, s.y, 500);
    series.push_back(std::move(s));
  }
  Axes a;
  a.title = "Precision-recall per class";
  a.x_label = "recall";
  a.y_label = "precision";
  line_plot(w, a, series);
}

/// The plots of one task: confusion, reliability (raw and scaled), precision-recall per
/// class, and ROC for a binary task.
void task_plots(XmlWriter& w, const TaskReport& r, const TaskPredictions& task) {
  w.open("div", {{"class", "plots"}});
  confusion_heatmap(w, "Confusion: " + r.name, r.confusion, r.classes);
  reliability_diagram(w, "Reliability (raw)", r.calibration);
  if (r.calibration_scaled)
    reliability_diagram(w, "Reliability (T = " + svg_number(r.temperature->temperature, 3) + ")",
                        *r.calibration_scaled);
  per_class_pr(w, r, task);
  if (r.type == data::TaskType::kBinary) roc_curve(w, r);
  w.close();
}

/// One table of confident errors: call, time, speaker, transcript, score, label, decision.
void error_table(XmlWriter& w, const std::string& heading, const std::vector<html::ErrorRow>& rows,
                 const TaskReport& r, const TaskPredictions& task, const EvalSet& test,
                 bool links) {
  w.element("h4", {}, heading);
  if (rows.empty()) {
    w.element("p", {}, "none");
    return;
  }
  const bool categorical = r.type == data::TaskType::kCategorical;
  w.open("table");
  row(w, {"call", "time", "speaker", "transcript", categorical ? "P(decision)" : html::score_name(r),
          "label", "decision"},
      true);
  for (const html::ErrorRow& e : rows) {
    w.open("tr");
    w.open("td", {{"class", "l"}});
    html::call_link(w, test.segments.call_ids[e.index], links);
    w.close();
    w.element("td", {{"class", "time"}}, html::time_span(test, e.index));
    w.element("td", {{"class", "l"}}, test.segments.speakers[e.index]);
    w.element("td", {{"class", "text"}},
              test.segments.texts.empty() ? "" : test.segments.texts[e.index]);
    w.element("td", {}, svg_number(e.score, 3));
    w.element("td", {{"class", "l"}}, r.classes[size_t(task.labels[e.index])]);
    w.element("td", {{"class", "l"}}, r.classes[size_t(html::decision(r, e.index))]);
    w.close();
  }
  w.close();
}

/// The most confident false alarms and misses of a task (errors, for a categorical one).
void task_errors(XmlWriter& w, const TaskReport& r, const TaskPredictions& task,
                 const EvalSet& test, const HtmlOptions& options) {
  if (options.worst_errors == 0) return;
  const html::WorstErrors e = html::worst_errors(r, task, test, options.worst_errors);
  w.element("h3", {}, "Worst errors");
  if (r.type == data::TaskType::kCategorical) {
    error_table(w, "Most confident errors", e.alarms, r, task, test, options.call_links);
    return;
  }
  error_table(w, "Most confident false alarms (labelled " + r.classes[0] + ", decided higher)",
              e.alarms, r, task, test, options.call_links);
  error_table(w, "Most confident misses (labelled above " + r.classes[0] + ", decided " +
                     r.classes[0] + ")",
              e.misses, r, task, test, options.call_links);
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
/// to show) metrics, plots, worst errors, slices and timelines.
void task_section(XmlWriter& w, const EvalReport& report, const TaskReport& r,
                  const EvalSet& test, const HtmlOptions& options) {
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
  task_plots(w, r, task);
  task_errors(w, r, task, test, options);
  task_slices(w, report, r);
  if (r.timeline) timelines(w, r, test, task, report.config.timeline, options);
  w.close();
}

/// Train and dev loss per epoch, and the dev metric (overall and per task) per epoch, with
/// the best epoch (the one best.pt holds: the first with the highest dev score) marked.
void training_section(XmlWriter& w, const TrainingHistory& h) {
  w.open("section");
  w.element("h2", {}, "Training");
  if (!h.problem.empty()) w.element("p", {{"class", "note"}}, h.problem);
  if (h.epochs.empty()) {
    w.close();
    return;
  }
  Series train{"train loss", {}, {}, series_color(0), true};
  Series dev{"dev loss", {}, {}, series_color(1), true};
  Series score{"dev score (model selection)", {}, {}, "#000", true};
  std::map<std::string, Series> per_task;
  double best = -INFINITY, best_epoch = NAN, top_loss = 0.0, last_epoch = 1.0;
  for (const EpochRecord& e : h.epochs) {
    train.x.push_back(e.epoch), train.y.push_back(e.train_loss);
    dev.x.push_back(e.epoch), dev.y.push_back(e.dev_loss);
    score.x.push_back(e.epoch), score.y.push_back(e.dev_score);
    for (const auto& [task, f1] : e.dev_macro_f1) {
      Series& s = per_task.try_emplace(task, Series{"dev macro-F1: " + task, {}, {},
                                                    series_color(2 + per_task.size()), true})
                      .first->second;
      s.x.push_back(e.epoch), s.y.push_back(f1);
    }
    for (double v : {e.train_loss, e.dev_loss})
      if (std::isfinite(v)) top_loss = std::max(top_loss, v);
    if (e.dev_score > best) best = e.dev_score, best_epoch = e.epoch;
    last_epoch = std::max(last_epoch, e.epoch);
  }
  if (std::none_of(dev.y.begin(), dev.y.end(), [](double v) { return std::isfinite(v); }))
    dev.name = "dev loss: not in this run's metrics";
  Axes a;
  a.x_label = "epoch";
  a.x_min = h.epochs.front().epoch > 1 ? h.epochs.front().epoch - 1 : 0.0;
  a.x_max = nice_ceil(last_epoch);
  a.width = 420;
  if (std::isfinite(best_epoch)) {
    a.vlines = {best_epoch};
    a.legend = {{"best epoch (best.pt): " + svg_number(best_epoch, 0), "#555",
                 LegendEntry::Mark::kDashed}};
  }
  w.open("div", {{"class", "plots"}});
  a.title = "Loss per epoch";
  a.y_label = "loss";
  a.y_max = nice_ceil(top_loss);
  const std::vector<Series> losses = {train, dev};
  line_plot(w, a, losses);
  a.title = "Dev metric per epoch";
  a.y_label = "macro-F1";
  a.y_max = 1.0;
  std::vector<Series> metrics = {score};
  for (auto& [task, s] : per_task) metrics.push_back(std::move(s));
  line_plot(w, a, metrics);
  w.close();
  w.element("p", {}, "From " + h.source + ", one point per epoch.");
  w.close();
}

}  // namespace

std::vector<std::string> linked_calls(const EvalReport& report, const EvalSet& test,
                                      const HtmlOptions& options) {
  std::vector<std::string> out;
  auto add = [&](const std::string& id) {
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  };
  for (const TaskReport& r : report.tasks) {
    if (!r.note.empty()) continue;
    const html::WorstErrors e = html::worst_errors(r, test.task(r.name), test, options.worst_errors);
    for (const auto* rows : {&e.alarms, &e.misses})
      for (const html::ErrorRow& row : *rows) add(test.segments.call_ids[row.index]);
    if (r.timeline)
      for (const CallTimeline* c : timeline_calls(*r.timeline, options.max_timeline_calls))
        add(c->call_id);
  }
  return out;
}

std::string to_html(const EvalReport& report, const EvalSet& test, int max_timeline_calls) {
  HtmlOptions options;
  options.max_timeline_calls = max_timeline_calls;
  return to_html(report, test, options);
}

std::string to_html(const EvalReport& report, const EvalSet& test, const HtmlOptions& options) {
  XmlWriter w;
  html::open_page(w, "tenor evaluation report");
  w.element("h1", {}, "tenor evaluation report");
  const BootstrapConfig& b = report.config.bootstrap;
  w.element("p", {},
            std::to_string(report.n_segments) + " segments in " + std::to_string(report.n_calls) +
                " calls; intervals: " + std::to_string(b.resamples) +
                " call-bootstrap resamples, percentile method, seed " + std::to_string(b.seed) +
                (report.has_dev ? "; temperature and threshold fitted on the " + report.rules_fitted_on
                                : std::string("; uncalibrated (") + report.rules_fitted_on + ")"));
  if (options.training) training_section(w, *options.training);
  for (const TaskReport& r : report.tasks) task_section(w, report, r, test, options);
  w.close();  // body
  w.close();  // html
  return w.finish();
}

}  // namespace tenor::eval
