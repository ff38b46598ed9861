#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "eval/compare.h"
#include "eval/evaluate.h"

namespace tenor::eval {

/// Version of the JSON layout documented in docs/evaluation.md; bumped on any change.
/// 2: a task's `kind` says "categorical" (the dataset schema's word) where 1 said "nominal".
/// 3: slices carry `single_class`, `class_recall`, `small`, `flagged` and `note`, and
/// `outside_overall` means the slice's own interval misses the overall one (2: its point).
inline constexpr int kReportSchemaVersion = 3;

/// The evaluation report as JSON (layout in docs/evaluation.md). Undefined values (NaN) are
/// null; curves are thinned to at most 1,000 points.
nlohmann::json to_json(const EvalReport& report);

/// A comparison of two runs, with the gate's verdict when `gate` is given.
nlohmann::json to_json(const Comparison& comparison, const GateResult* gate = nullptr);

/// A self-contained HTML page (inline SVG and CSS, no scripts or external assets) with, per
/// task, the headline metrics, confusion heat map, reliability diagram(s), ROC and PR curves,
/// per-slice bars with intervals and score timelines of up to `max_timeline_calls` calls (the
/// escalated ones first). `test` must be the set the report was computed from. The page is
/// well-formed XML (XHTML syntax).
std::string to_html(const EvalReport& report, const EvalSet& test, int max_timeline_calls = 6);

}  // namespace tenor::eval
