#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tenor {

/// True when `s` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates).
bool is_valid_utf8(std::string_view s);

/// Levenshtein edit distance (for "did you mean" suggestions).
size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate nearest to `word` if it is plausibly a typo of it, else "".
std::string nearest(std::string_view word, std::span<const std::string> candidates);

/// A number as a person writes it in a message: up to 6 significant digits, no trailing
/// zeros ("0.004", "100", "36.5214", "1e-07"; "nan", "inf"), never std::to_string's
/// "0.004000" or yaml's "0.0040000000000000001".
std::string format_number(double v);
/// A time in a message: format_number's digits and " s" ("2.849 s", "3600 s").
std::string format_seconds(double s);
/// The shortest text that reads back as exactly `v` (0.004, 1.5e-05, 2).
std::string shortest_number(double v);

/// `s` with leading and trailing ASCII white space removed.
std::string_view trim(std::string_view s);

/// `s` shortened to `max_chars` bytes (on a UTF-8 boundary) with "..." appended, and
/// control characters escaped, so that hostile input prints as one readable line.
std::string printable(std::string_view s, size_t max_chars = 60);

/// `s` in double quotes with each double quote doubled: the quoting of CSV fields and of
/// Praat TextGrid strings.
std::string quote_doubled(std::string_view s);

/// Joins with a separator.
std::string join(std::span<const std::string> parts, std::string_view sep);

/// The current time in UTC as ISO 8601 to the second ("2026-12-01T16:09:16Z"): the one
/// timestamp format of stores, manifests and model cards.
std::string utc_now();

}  // namespace tenor
