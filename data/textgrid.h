#pragma once
// Praat's TextGrid text files: both text forms Praat writes ("Save as text file", the long
// form with `xmin = 0` labels, and "Save as short text file", values only), in UTF-8 or in
// UTF-16 with a byte-order mark (what Praat writes when a label holds a non-ASCII character).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/diagnostics.h"

namespace tenor::data {

struct TextGridInterval {
  double xmin = 0;
  double xmax = 0;
  std::string text;  ///< UTF-8
  int64_t line = 0;  ///< line of the interval's first value in the file
};

/// An IntervalTier, or a TextTier (point tier: xmin == xmax for each point).
struct TextGridTier {
  std::string name;
  bool interval_tier = true;
  double xmin = 0;
  double xmax = 0;
  std::vector<TextGridInterval> intervals;
  int64_t line = 0;
};

struct TextGrid {
  double xmin = 0;
  double xmax = 0;
  std::vector<TextGridTier> tiers;
};

/// The file's bytes as UTF-8: a UTF-16 file (big- or little-endian, with its byte-order mark)
/// is converted, a UTF-8 byte-order mark dropped. nullopt (and an error finding at `display`)
/// when the bytes are neither.
std::optional<std::string> textgrid_text_as_utf8(std::string_view bytes, const std::string& display,
                                                 Diagnostics& diag);

/// Parses a TextGrid in either text form. Reads `path`; every problem is one error finding at
/// `display`:line (a malformed file stops at its first problem). nullopt when unusable.
std::optional<TextGrid> read_textgrid(const std::filesystem::path& path,
                                      const std::string& display, Diagnostics& diag);

/// The TextGrid in Praat's long text form, UTF-8, numbers in their shortest exact decimal form
/// (so that reading it back gives the same doubles).
std::string textgrid_to_text(const TextGrid& grid);

}  // namespace tenor::data
