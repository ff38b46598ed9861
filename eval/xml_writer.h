#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tenor::eval {

/// Escapes text for XML content and attribute values: & < > " ' become entities, control
/// characters other than tab / newline / carriage return (not allowed in XML 1.0) and bytes
/// of invalid UTF-8 are written as visible "\xNN" escapes.
std::string xml_escape(std::string_view text);

/// A number for SVG coordinates and labels: up to `digits` decimals, no trailing zeros,
/// "NaN" never (non-finite values become 0 so that the document stays valid).
std::string svg_number(double v, int digits = 2);

/// Attribute list: names are ours (trusted), values are escaped on output.
using XmlAttrs = std::vector<std::pair<std::string_view, std::string>>;

/// Writes well-formed XML (SVG, XHTML) element by element: every value is escaped and every
/// element opened is closed in order, so the output always parses. Tag and attribute names
/// are the caller's constants, never user data.
class XmlWriter {
 public:
  /// <tag attrs...>, to be closed by close().
  XmlWriter& open(std::string_view tag, const XmlAttrs& attrs = {});
  /// Closes the innermost open element; throws UsageError when none is open.
  XmlWriter& close();
  /// <tag attrs.../>
  XmlWriter& leaf(std::string_view tag, const XmlAttrs& attrs = {});
  /// <tag attrs...>escaped text</tag>
  XmlWriter& element(std::string_view tag, const XmlAttrs& attrs, std::string_view text);
  /// Escaped character data.
  XmlWriter& text(std::string_view text);
  /// Markup the caller vouches for (a doctype, a CSS block without '<' or '&').
  XmlWriter& raw(std::string_view markup);
  /// The document; throws UsageError when elements are still open.
  std::string finish();
  size_t depth() const { return open_.size(); }

 private:
  void attrs(const XmlAttrs& attrs);
  std::string out_;
  std::vector<std::string> open_;
};

}  // namespace tenor::eval
