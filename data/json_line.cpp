#include "data/json_line.h"

#include "core/text.h"

namespace tenor::data {
using nlohmann::json;

namespace {

/// The key whose value starts at `pos` ("end" in `"end": 1e309`), or "".
std::string key_before(std::string_view text, size_t pos) {
  auto skip_space = [&](size_t& i) {
    while (i > 0 && (text[i - 1] == ' ' || text[i - 1] == '\t')) --i;
  };
  size_t i = pos;
  skip_space(i);
  if (i == 0 || text[--i] != ':') return "";
  skip_space(i);
  if (i == 0 || text[--i] != '"') return "";
  const size_t close = i;
  const size_t open = text.rfind('"', close - 1);
  if (close == 0 || open == std::string_view::npos) return "";
  return std::string(text.substr(open + 1, close - open - 1));
}

/// nlohmann reports an overflowing number as "... number overflow parsing '1e309'".
JsonLineProblem number_overflow(std::string_view text, const std::string& what) {
  std::string number;
  if (auto open = what.rfind("parsing '"); open != std::string::npos) {
    number = what.substr(open + 9);
    if (auto close = number.find('\''); close != std::string::npos) number.resize(close);
  }
  std::string place;
  if (auto pos = number.empty() ? std::string_view::npos : text.find(number);
      pos != std::string_view::npos) {
    place = " (at byte " + std::to_string(pos + 1);
    if (auto key = key_before(text, pos); !key.empty())
      place += ", the value of \"" + printable(key) + "\"";
    place += ")";
  }
  return {"number-out-of-range",
          "the number " + printable(number, 40) + place +
              " is out of range (numbers must lie within -1.8e308..1.8e308)"};
}

/// Arrays and objects may nest this deep. A dataset line needs about 6 levels; deeper ones
/// would overflow the stack when the value is later copied or written (a line of a
/// million '[' crashed validate with SIGSEGV).
constexpr int kMaxDepth = 64;

/// The byte (1-based) where nesting first goes past kMaxDepth, or 0.
size_t too_deep_at(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return i + 1;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return 0;
}

}  // namespace

std::optional<JsonLineProblem> parse_json_line(std::string_view text, json& out) {
  if (size_t at = too_deep_at(text))
    return JsonLineProblem{"json-too-deep", "line nests arrays or objects more than " +
                                                std::to_string(kMaxDepth) + " deep (at byte " +
                                                std::to_string(at) + ")"};
  try {
    out = json::parse(text);
    return std::nullopt;
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    if (auto pos = what.find("syntax error"); pos != std::string::npos) what = what.substr(pos);
    const bool utf8 = what.find("UTF-8") != std::string::npos;
    return JsonLineProblem{
        utf8 ? "not-utf8" : "json-malformed",
        std::string(utf8 ? "line is not valid UTF-8 text" : "line is not valid JSON") +
            " (at byte " + std::to_string(e.byte) + ": " + printable(what, 120) + ")"};
  } catch (const json::out_of_range& e) {
    return number_overflow(text, e.what());
  } catch (const json::exception& e) {
    return JsonLineProblem{"json-malformed",
                           "line cannot be read as JSON (" + printable(e.what(), 120) + ")"};
  }
}

}  // namespace tenor::data
