#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/compare.h"
#include "eval/evaluate.h"

namespace tenor::eval {

/// Version of the JSON layout documented in docs/evaluation.md; bumped on any change.
/// 2: a task's `kind` says "categorical" (the dataset schema's word) where 1 said "nominal".
/// 3: slices carry `single_class`, `class_recall`, `small`, `flagged` and `note`, and
/// `outside_overall` means the slice's own interval misses the overall one (2: its point).
/// 4: a task carries `pr_per_class` (every task, as the HTML draws them) and `worst_errors`
/// (the HTML's tables); `config.worst_errors` is their length. 3's keys are unchanged.
inline constexpr int kReportSchemaVersion = 4;

/// The evaluation report as JSON (layout in docs/evaluation.md). Undefined values (NaN) are
/// null; curves are thinned to at most 1,000 points. `test` must be the set the report was
/// computed from (for the curves per class and the worst errors); `worst_errors` rows of each
/// kind (0: `worst_errors` is null, as in a bundle's evaluation.json, which ships without the
/// test calls' transcripts).
nlohmann::json to_json(const EvalReport& report, const EvalSet& test, size_t worst_errors = 8);

/// A comparison of two runs, with the gate's verdict when `gate` is given.
nlohmann::json to_json(const Comparison& comparison, const GateResult* gate = nullptr);

/// Every scored segment of `test` as JSON lines (docs/evaluation.md, "predictions.jsonl"):
/// call, segment, speaker, times, transcript, and per task of the segment's role the label,
/// the raw and calibrated probabilities and the decision, as the report scored them.
std::string predictions_jsonl(const EvalReport& report, const EvalSet& test);

/// One epoch of training, a line of RUN/metrics.jsonl (NaN where a value is absent or null).
struct EpochRecord {
  double epoch = 0, train_loss = 0, dev_loss = 0, dev_score = 0;
  std::map<std::string, double> dev_macro_f1;  ///< per task
};

/// A run's training curves.
struct TrainingHistory {
  std::string source;  ///< the file they were read from
  std::vector<EpochRecord> epochs;
  std::string problem;  ///< why some or all epochs are missing ("" when none)
};

/// Reads RUN/metrics.jsonl. Never throws: an absent or unreadable file, or a line that is not
/// an epoch's JSON, ends the history there and says so in `problem` (the report shows it).
TrainingHistory read_training_history(const std::filesystem::path& metrics_jsonl);

/// What the HTML page holds besides the report's figures.
struct HtmlOptions {
  int max_timeline_calls = 6;  ///< score timelines drawn (escalated calls first)
  size_t worst_errors = 8;     ///< rows per worst-error table
  const TrainingHistory* training = nullptr;  ///< training curves, when given
  bool call_links = false;  ///< call ids link to call_page_path(id), written beside the page
};

/// A self-contained HTML page (inline SVG and CSS, no scripts or external assets) with, per
/// task, the headline metrics, confusion heat map, reliability diagram(s) with bin counts,
/// precision-recall curves per class (and ROC for binary tasks), the most confident false
/// alarms and misses, per-slice bars with intervals and score timelines; and the training
/// curves when given. `test` must be the set the report was computed from. The page is
/// well-formed XML (XHTML syntax).
std::string to_html(const EvalReport& report, const EvalSet& test, const HtmlOptions& options);
std::string to_html(const EvalReport& report, const EvalSet& test, int max_timeline_calls = 6);

/// The calls the page of to_html links to (its error tables and timelines), in order: the
/// call pages to write beside it.
std::vector<std::string> linked_calls(const EvalReport& report, const EvalSet& test,
                                      const HtmlOptions& options);

/// Where a call's page lies relative to the report: "calls/ID.html", the id's bytes outside
/// [A-Za-z0-9.-] (and a leading '.') written as "_XX", so that any id is one safe file name.
std::string call_page_path(const std::string& call_id);

/// Where a call page finds the call's audio, as URLs (percent-encoded): `relative` to the page
/// (works wherever the report and the dataset move together, and over HTTP), and `absolute`, a
/// file:// URL (works wherever the report alone moves on this machine). Empty: no audio.
struct CallAudio {
  std::string relative, absolute;
};

/// One call's page (linked from the report, written by `tenor eval --call ID`): the labels,
/// the scores of every task over time (each task on its role's segments), and the transcript
/// turn by turn with each task's label, decision and score; with an audio player on each turn
/// when `audio.relative` is not empty: the player tries the relative URL, then the absolute
/// one, and when neither plays the page says so, naming both and the fix (one small inline
/// script, only on pages with players). The page lies one directory below the report
/// (call_page_path). DataError naming a near id when `call_id` is not in `test`.
std::string call_page(const EvalReport& report, const EvalSet& test, const std::string& call_id,
                      const CallAudio& audio = {});

}  // namespace tenor::eval
