#include "data/textgrid.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"

namespace tenor::data {
namespace fs = std::filesystem;

namespace {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

/// UTF-16 code units (after the byte-order mark) to UTF-8; nullopt on an odd length or an
/// unpaired surrogate.
std::optional<std::string> utf16_to_utf8(std::string_view bytes, bool big_endian) {
  if (bytes.size() % 2 != 0) return std::nullopt;
  auto unit = [&](size_t i) {
    const auto hi = uint8_t(bytes[i + (big_endian ? 0 : 1)]);
    const auto lo = uint8_t(bytes[i + (big_endian ? 1 : 0)]);
    return uint32_t(hi) << 8 | lo;
  };
  std::string out;
  out.reserve(bytes.size() / 2);
  for (size_t i = 0; i < bytes.size(); i += 2) {
    uint32_t cp = unit(i);
    if (cp >= 0xD800 && cp < 0xDC00) {
      if (i + 2 >= bytes.size()) return std::nullopt;
      const uint32_t low = unit(i + 2);
      if (low < 0xDC00 || low >= 0xE000) return std::nullopt;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      i += 2;
    } else if (cp >= 0xDC00 && cp < 0xE000) {
      return std::nullopt;
    }
    append_utf8(out, cp);
  }
  return out;
}

/// A value of the file: a quoted string, a number or a flag such as <exists>.
struct Token {
  enum Kind { kString, kNumber, kFlag, kEnd } kind = kEnd;
  std::string text;
  double number = 0;
  int64_t line = 0;
  std::string stray_word;  ///< a word skipped where a value belongs, before this token
  int64_t stray_line = 0;
};

struct ParseFailure {
  int64_t line;
  std::string message;
};

/// Praat's text reader, reduced to what TextGrids use: the long form's labels (`xmin =`,
/// `item [1]:`, `intervals: size =`) are skipped, so both forms give the same values in order.
class Tokenizer {
 public:
  explicit Tokenizer(std::string_view text) : s_(text) {}

  Token next() {
    stray_word_ = {};
    skip_labels();
    Token t;
    t.line = line_;
    t.stray_word = std::string(stray_word_);
    t.stray_line = stray_line_;
    if (pos_ >= s_.size()) return t;
    const char c = s_[pos_];
    if (c == '"') return string_token(t);
    if (c == '<') return flag_token(t);
    return number_token(t);
  }

  int64_t line() const { return line_; }

 private:
  /// Skips white space, `=`, `:`, comments, `[n]` and label words up to the next value. A word
  /// right after `=` (`xmax = nan`) is where a value belongs: kept for the error it leads to.
  void skip_labels() {
    bool after_equals = false;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '\n') {
        ++line_;
        after_equals = false;
      }
      if (c == '=') after_equals = true;
      if (c == '\n' || c == ' ' || c == '\t' || c == '\r' || c == '=' || c == ':') {
        ++pos_;
      } else if (c == '!') {  // a comment to the end of the line
        skip_while([](char x) { return x != '\n'; });
      } else if (c == '[') {  // `item [1]:`
        skip_while([](char x) { return x != ']' && x != '\n'; });
        if (pos_ < s_.size() && s_[pos_] == ']') ++pos_;
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {  // `xmin`, `tiers?`
        const size_t start = pos_;
        skip_while([](char x) {
          return std::isalnum(static_cast<unsigned char>(x)) || x == '_' || x == '?';
        });
        if (after_equals && stray_word_.empty()) {
          stray_word_ = s_.substr(start, pos_ - start);
          stray_line_ = line_;
        }
        after_equals = false;
      } else {
        return;
      }
    }
  }

  template <class Pred>
  void skip_while(Pred keep_going) {
    while (pos_ < s_.size() && keep_going(s_[pos_])) ++pos_;
  }

  Token string_token(Token t) {
    t.kind = Token::kString;
    ++pos_;
    for (;;) {
      if (pos_ >= s_.size())
        throw ParseFailure{t.line, "a text value opened with \" is never closed"};
      const char c = s_[pos_++];
      if (c == '"') {
        if (pos_ < s_.size() && s_[pos_] == '"') {  // "" is a quote inside the text
          t.text += '"';
          ++pos_;
          continue;
        }
        return t;
      }
      if (c == '\n') ++line_;
      t.text += c;
    }
  }

  Token flag_token(Token t) {
    t.kind = Token::kFlag;
    const size_t end = s_.find('>', pos_);
    if (end == std::string_view::npos) throw ParseFailure{t.line, "a '<' flag is never closed"};
    t.text = std::string(s_.substr(pos_, end + 1 - pos_));
    pos_ = end + 1;
    return t;
  }

  Token number_token(Token t) {
    size_t end = pos_;
    constexpr std::string_view kNumberChars = "0123456789+-.eE";
    while (end < s_.size() && kNumberChars.find(s_[end]) != std::string_view::npos) ++end;
    const std::string word(s_.substr(pos_, std::max(end, pos_ + 1) - pos_));
    char* stop = nullptr;
    t.number = std::strtod(word.c_str(), &stop);
    if (end == pos_ || stop != word.c_str() + word.size() || !std::isfinite(t.number))
      throw ParseFailure{t.line, "unexpected '" + printable(word, 20) +
                                     "' where a number, a quoted text or a flag belongs"};
    t.kind = Token::kNumber;
    pos_ = end;
    return t;
  }

  std::string_view s_;
  size_t pos_ = 0;
  int64_t line_ = 1;
  std::string_view stray_word_;
  int64_t stray_line_ = 0;
};

/// What a token is, with its value: `the quoted text "calm"`, `the number 2.5`.
std::string found(const Token& t) {
  switch (t.kind) {
    case Token::kString: return "the quoted text \"" + printable(t.text, 20) + "\"";
    case Token::kNumber: return "the number " + format_number(t.number);
    case Token::kFlag: return "the flag " + printable(t.text, 20);
    case Token::kEnd: return "the end of the file";
  }
  return "?";
}

const char* kind_name(Token::Kind k) {
  switch (k) {
    case Token::kString: return "a quoted text";
    case Token::kNumber: return "a number";
    case Token::kFlag: return "a flag";
    case Token::kEnd: return "the end of the file";
  }
  return "?";
}

class Parser {
 public:
  explicit Parser(std::string_view text) : tok_(text) {}

  TextGrid parse() {
    const Token file_type = expect(Token::kString, "the file type");
    if (file_type.text == "ooBinaryFile")
      throw ParseFailure{file_type.line, "this is a binary TextGrid; in Praat, open it and use "
                                         "Save as text file, then import that"};
    if (file_type.text != "ooTextFile")
      throw ParseFailure{file_type.line,
                         "the file type is '" + printable(file_type.text) +
                             "', not \"ooTextFile\": this is not a Praat text file"};
    const Token cls = expect(Token::kString, "the object class");
    if (cls.text != "TextGrid")
      throw ParseFailure{cls.line, "this Praat file holds a " + printable(cls.text) +
                                       ", not a TextGrid; save the TextGrid itself"};
    TextGrid grid;
    grid.xmin = number("the TextGrid's xmin");
    grid.xmax = number("the TextGrid's xmax");
    const Token exists = expect(Token::kFlag, "<exists> or <absent>");
    if (exists.text == "<absent>") return grid;
    const Token n = expect(Token::kNumber, "the number of tiers");
    if (n.number < 0 || n.number > 1e6 || n.number != std::floor(n.number))
      throw ParseFailure{n.line, "a tier count of " + format_number(n.number) +
                                     "; re-save the TextGrid from Praat"};
    for (int64_t i = 0; i < int64_t(n.number); ++i) grid.tiers.push_back(tier());
    if (const Token rest = tok_.next(); rest.kind != Token::kEnd)
      throw ParseFailure{rest.line, "more values after the last of the " +
                                        std::to_string(int64_t(n.number)) +
                                        " tiers the file declares; re-save it from Praat"};
    return grid;
  }

 private:
  Token expect(Token::Kind kind, const char* what) {
    Token t = tok_.next();
    if (!t.stray_word.empty())
      throw ParseFailure{t.stray_line, std::string("expected ") + what + " (" +
                                           kind_name(kind) + "), found '" +
                                           printable(t.stray_word, 20) +
                                           "'; the file was edited by hand: write the value "
                                           "as Praat does, or re-save it from Praat"};
    if (t.kind != kind)
      throw ParseFailure{t.line, std::string("expected ") + what + " (" + kind_name(kind) +
                                     "), found " + found(t) +
                                     "; the file is cut short or was edited by hand: "
                                     "re-save it from Praat"};
    return t;
  }
  double number(const char* what) { return expect(Token::kNumber, what).number; }

  TextGridTier tier() {
    TextGridTier t;
    const Token cls = expect(Token::kString, "a tier class");
    t.line = cls.line;
    if (cls.text != "IntervalTier" && cls.text != "TextTier")
      throw ParseFailure{cls.line, "unknown tier class '" + printable(cls.text) +
                                       "' (IntervalTier or TextTier)"};
    t.interval_tier = cls.text == "IntervalTier";
    t.name = expect(Token::kString, "the tier name").text;
    t.xmin = number("the tier's xmin");
    t.xmax = number("the tier's xmax");
    const Token count = expect(Token::kNumber, "the number of intervals");
    if (count.number < 0 || count.number > 1e8 || count.number != std::floor(count.number))
      throw ParseFailure{count.line, "an interval count of " + format_number(count.number) +
                                         "; re-save the TextGrid from Praat"};
    for (int64_t i = 0; i < int64_t(count.number); ++i) {
      TextGridInterval iv;
      const Token first = expect(Token::kNumber, "a time");
      iv.line = first.line;
      iv.xmin = first.number;
      iv.xmax = t.interval_tier ? number("an interval's xmax") : iv.xmin;
      iv.text = expect(Token::kString, "a label").text;
      t.intervals.push_back(std::move(iv));
    }
    return t;
  }

  Tokenizer tok_;
};

/// The shortest decimal that reads back as `v` (std::to_chars), as Praat would print it.
std::string number_text(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

std::optional<std::string> textgrid_text_as_utf8(std::string_view bytes, const std::string& display,
                                                 Diagnostics& diag) {
  auto starts = [&](std::string_view bom) { return bytes.substr(0, bom.size()) == bom; };
  std::optional<std::string> text;
  if (starts("\xFE\xFF")) {
    text = utf16_to_utf8(bytes.substr(2), true);
  } else if (starts("\xFF\xFE")) {
    text = utf16_to_utf8(bytes.substr(2), false);
  } else if (starts("\xEF\xBB\xBF")) {
    text = std::string(bytes.substr(3));
  } else {
    text = std::string(bytes);
  }
  if (!text || !is_valid_utf8(*text)) {
    diag.error(display, 0, "textgrid-encoding",
               "the file is neither UTF-8 nor UTF-16 with a byte-order mark; in Praat set "
               "Praat > Preferences > Text writing preferences to UTF-8 and save it again");
    return std::nullopt;
  }
  return text;
}

std::optional<TextGrid> read_textgrid(const fs::path& path, const std::string& display,
                                      Diagnostics& diag) {
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const IoError& e) {
    diag.error(display, 0, "textgrid-unreadable", std::string(e.what()));
    return std::nullopt;
  }
  const auto text = textgrid_text_as_utf8(bytes, display, diag);
  if (!text) return std::nullopt;
  try {
    return Parser(*text).parse();
  } catch (const ParseFailure& f) {
    diag.error(display, f.line, "textgrid-malformed", f.message);
    return std::nullopt;
  }
}

std::string textgrid_to_text(const TextGrid& grid) {
  std::string out = "File type = \"ooTextFile\"\nObject class = \"TextGrid\"\n\n";
  out += "xmin = " + number_text(grid.xmin) + " \nxmax = " + number_text(grid.xmax) + " \n";
  out += "tiers? <exists> \nsize = " + std::to_string(grid.tiers.size()) + " \nitem []: \n";
  for (size_t i = 0; i < grid.tiers.size(); ++i) {
    const auto& t = grid.tiers[i];
    const char* items = t.interval_tier ? "intervals" : "points";
    out += "    item [" + std::to_string(i + 1) + "]:\n";
    out += std::string("        class = \"") + (t.interval_tier ? "IntervalTier" : "TextTier") +
           "\" \n        name = " + quote_doubled(t.name) + " \n";
    out += "        xmin = " + number_text(t.xmin) + " \n        xmax = " + number_text(t.xmax) +
           " \n";
    out += std::string("        ") + items + ": size = " + std::to_string(t.intervals.size()) +
           " \n";
    for (size_t k = 0; k < t.intervals.size(); ++k) {
      const auto& iv = t.intervals[k];
      out += std::string("        ") + items + " [" + std::to_string(k + 1) + "]:\n";
      if (t.interval_tier) {
        out += "            xmin = " + number_text(iv.xmin) + " \n            xmax = " +
               number_text(iv.xmax) + " \n            text = " + quote_doubled(iv.text) + " \n";
      } else {
        out += "            number = " + number_text(iv.xmin) + " \n            mark = " +
               quote_doubled(iv.text) + " \n";
      }
    }
  }
  return out;
}

}  // namespace tenor::data
