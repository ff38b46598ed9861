#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tenor::data {

enum class Severity { kError, kWarning };

/// One problem found in a dataset, located as precisely as the input allows.
struct Finding {
  Severity severity = Severity::kError;
  std::string file;     ///< path as the user should open it (relative to the dataset root)
  int64_t line = 0;     ///< 1-based line in `file`, 0 when there is none
  std::string call_id;  ///< the call concerned, if any
  int segment = -1;     ///< 0-based segment index within the call, -1 if none
  std::string code;     ///< stable machine-readable identifier, e.g. "segment-past-end"
  std::string message;  ///< a plain sentence: what is wrong, the value, the fix
  bool headline = false;  ///< a summary of the findings below it: sorted before every other
};

/// Collects findings; loaders and validators add to it instead of stopping at
/// the first problem, so a labeller sees every fault in one run.
class Diagnostics {
 public:
  void add(Finding finding);
  void error(std::string file, int64_t line, std::string code, std::string message,
             std::string call_id = {}, int segment = -1);
  void warning(std::string file, int64_t line, std::string code, std::string message,
               std::string call_id = {}, int segment = -1);

  const std::vector<Finding>& findings() const { return findings_; }
  size_t error_count() const { return errors_; }
  size_t warning_count() const { return warnings_; }
  bool has_code(const std::string& code) const;
  size_t count_code(const std::string& code) const;

  /// Orders findings by file, line, call and segment (stable for equal keys), headlines first.
  void sort();

  /// Findings as one `path:line: error|warning: sentence` line each.
  std::string to_text() const;
  nlohmann::json to_json() const;

  /// The first `max` errors, one per line, for exceptions thrown by strict loaders.
  std::string error_summary(size_t max = 10) const;

 private:
  std::vector<Finding> findings_;
  size_t errors_ = 0;
  size_t warnings_ = 0;
};

/// `file:line: error: message` (or `file: call X, segment N: ...` where there is no line).
std::string format_finding(const Finding& f);

}  // namespace tenor::data
