#include "data/diagnostics.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "core/text.h"

namespace tenor::data {

void Diagnostics::add(Finding finding) {
  (finding.severity == Severity::kError ? errors_ : warnings_)++;
  findings_.push_back(std::move(finding));
}

void Diagnostics::error(std::string file, int64_t line, std::string code, std::string message,
                        std::string call_id, int segment) {
  add({Severity::kError, std::move(file), line, std::move(call_id), segment, std::move(code),
       std::move(message)});
}

void Diagnostics::warning(std::string file, int64_t line, std::string code, std::string message,
                          std::string call_id, int segment) {
  add({Severity::kWarning, std::move(file), line, std::move(call_id), segment, std::move(code),
       std::move(message)});
}

bool Diagnostics::has_code(const std::string& code) const { return count_code(code) > 0; }

size_t Diagnostics::count_code(const std::string& code) const {
  return static_cast<size_t>(std::count_if(findings_.begin(), findings_.end(),
                                           [&](const Finding& f) { return f.code == code; }));
}

void Diagnostics::sort() {
  std::stable_sort(findings_.begin(), findings_.end(), [](const Finding& a, const Finding& b) {
    // Headlines first, then the schema (its errors explain others); findings without a line last
    // within their file.
    auto key = [](const Finding& f) {
      return std::make_tuple(!f.headline, f.file != "dataset.yaml", f.file, f.line == 0, f.line,
                             f.call_id, f.segment);
    };
    return key(a) < key(b);
  });
}

std::string format_finding(const Finding& f) {
  std::string out = f.file;
  if (f.line > 0) out += ":" + std::to_string(f.line);
  out += f.severity == Severity::kError ? ": error: " : ": warning: ";
  if (!f.call_id.empty()) {
    out += "call " + printable(f.call_id);
    if (f.segment >= 0) out += ", segment " + std::to_string(f.segment);
    out += ": ";
  }
  out += f.message;
  return out;
}

std::string Diagnostics::to_text() const {
  std::string out;
  for (const auto& f : findings_) out += format_finding(f) + "\n";
  return out;
}

nlohmann::json Diagnostics::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& f : findings_) {
    nlohmann::json j = {{"severity", f.severity == Severity::kError ? "error" : "warning"},
                        {"file", f.file},
                        {"code", f.code},
                        {"message", f.message}};
    j["line"] = f.line > 0 ? nlohmann::json(f.line) : nlohmann::json(nullptr);
    j["call_id"] = f.call_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.call_id);
    j["segment"] = f.segment >= 0 ? nlohmann::json(f.segment) : nlohmann::json(nullptr);
    list.push_back(std::move(j));
  }
  return {{"errors", errors_}, {"warnings", warnings_}, {"findings", std::move(list)}};
}

std::string Diagnostics::error_summary(size_t max) const {
  std::ostringstream out;
  size_t shown = 0;
  for (const auto& f : findings_) {
    if (f.severity != Severity::kError) continue;
    if (shown == max) {
      out << "\n  ... and " << (errors_ - shown) << " more (run `tenor data validate` to see all)";
      break;
    }
    out << "\n  " << format_finding(f);
    ++shown;
  }
  return out.str();
}

}  // namespace tenor::data
