#include "eval/xml_writer.h"

#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "core/text.h"

namespace tenor::eval {

std::string xml_escape(std::string_view text) {
  // printable() turns invalid UTF-8 and control bytes into "\xNN"; keep tab/LF/CR as they are.
  std::string safe;
  if (!is_valid_utf8(text)) {
    safe = printable(text, text.size() + 1);
  } else {
    safe.reserve(text.size());
    for (unsigned char ch : text) {
      if (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", ch);
        safe += buf;
      } else {
        safe += static_cast<char>(ch);
      }
    }
  }
  std::string out;
  out.reserve(safe.size());
  for (char ch : safe) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

std::string svg_number(double v, int digits) {
  if (!std::isfinite(v)) v = 0.0;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

void XmlWriter::attrs(const XmlAttrs& attrs) {
  for (const auto& [name, value] : attrs) {
    out_ += ' ';
    out_ += name;
    out_ += "=\"";
    out_ += xml_escape(value);
    out_ += '"';
  }
}

XmlWriter& XmlWriter::open(std::string_view tag, const XmlAttrs& a) {
  out_ += '<';
  out_ += tag;
  attrs(a);
  out_ += '>';
  open_.emplace_back(tag);
  return *this;
}

XmlWriter& XmlWriter::close() {
  if (open_.empty()) throw UsageError("XmlWriter: close() without an open element");
  out_ += "</" + open_.back() + ">";
  open_.pop_back();
  return *this;
}

XmlWriter& XmlWriter::leaf(std::string_view tag, const XmlAttrs& a) {
  out_ += '<';
  out_ += tag;
  attrs(a);
  out_ += "/>";
  return *this;
}

XmlWriter& XmlWriter::element(std::string_view tag, const XmlAttrs& a, std::string_view t) {
  open(tag, a);
  text(t);
  return close();
}

XmlWriter& XmlWriter::text(std::string_view t) {
  out_ += xml_escape(t);
  return *this;
}

XmlWriter& XmlWriter::raw(std::string_view markup) {
  out_ += markup;
  return *this;
}

std::string XmlWriter::finish() {
  if (!open_.empty())
    throw UsageError("XmlWriter: <" + open_.back() + "> and " + std::to_string(open_.size() - 1) +
                     " outer element(s) are still open");
  return std::move(out_);
}

}  // namespace tenor::eval
