#pragma once
// One line of a JSON-lines file (calls.jsonl, a transcript, text embeddings),
// parsed without letting the JSON library's exceptions out: every way a line
// can fail becomes a finding the reader reports with its file and line.

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tenor::data {

struct JsonLineProblem {
  std::string code;  ///< json-malformed, not-utf8, number-out-of-range, json-too-deep (validate's)
  std::string message;  ///< what is wrong and where in the line; the caller adds the fix
};

/// Parses `text` into `out`. Returns the problem instead of throwing when the line is
/// not JSON, not UTF-8, holds a number beyond the range of a double (1e309), or nests
/// arrays and objects more than 64 deep (deeper values overflow the stack when copied).
std::optional<JsonLineProblem> parse_json_line(std::string_view text, nlohmann::json& out);

}  // namespace tenor::data
