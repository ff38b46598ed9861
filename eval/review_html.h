#pragma once
// The page of `tenor data review` (eval/review.h): one row per suspected label error, sortable
// and filterable, with an audio player on the segment when its audio is at hand. Pure C++.

#include <string>
#include <vector>

namespace tenor::eval {

/// One suspect as the page shows it.
struct ReviewRow {
  int rank = 0;  ///< 1 = most likely wrong
  std::string call_id;
  int segment = 0;  ///< index in the call
  double start_s = 0, end_s = 0;
  std::string speaker, text, task, given, suggested;
  double confidence = 0;  ///< p(suggested)
  double score = 0;       ///< 1 - p(given)
  std::string audio_uri;  ///< a data: URI of the segment's audio, "" when not at hand
};

struct ReviewPage {
  std::string title;               ///< e.g. "label review: ravdess-anger"
  std::vector<std::string> notes;  ///< lines above the table (model, folds, counts)
  std::vector<ReviewRow> rows;
  /// Annotators against the consensus: task, annotator, segments, agreement, kappa (as text).
  std::vector<std::vector<std::string>> annotators;
};

/// A self-contained XHTML page (inline style and script, audio as data URIs): a text filter
/// over every column, a task filter, and headers that sort. The state can be given in the
/// URL's fragment, e.g. `review.html#q=call-7&task=escalation&sort=confidence&dir=asc`.
std::string review_to_html(const ReviewPage& page);

/// `mono` samples (full scale 1) as a data URI of a 16-bit PCM WAV file.
std::string wav_data_uri(const std::vector<float>& mono, int sample_rate_hz);

}  // namespace tenor::eval
