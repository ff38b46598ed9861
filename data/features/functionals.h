#pragma once
// Segment-level functionals over frame-level LLDs (no LibTorch here): the eGeMAPS
// functionals (Eyben et al. 2016, IEEE TAC 7(2)) computed per labelled segment,
// plus what eGeMAPS lacks for conversations: speaking and articulation rate,
// energy-based pauses, turn-taking, and features relative to the same speaker's
// earlier speech in the call (escalation is a change, not a level).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/features/lld_table.h"

namespace tenor::features {

/// Id of the functional definitions; bumped with any change (see data/features/CHANGES.md).
inline constexpr const char* kFunctionalsVersion = "tenor-func-1";

struct FunctionalsConfig {
  double pause_min_ms = 150;        ///< silences at least this long count as pauses
  double pause_below_peak_db = 25;  ///< a frame is silent when its intensity is this far below
                                    ///< the segment's 95th percentile
  double nucleus_dip_db = 2;        ///< syllable nuclei: intensity peak must rise this much
                                    ///< above the preceding dip (de Jong & Wempe 2009)
};

/// What a segment is besides its frames.
struct SegmentInfo {
  double start_s = 0, end_s = 0;
  std::optional<std::string> text;
  /// Seconds from the end of the other speaker's last turn before this one to this start
  /// (negative: overlap); nullopt when the other speaker has not spoken yet.
  std::optional<double> gap_to_other_s;
  /// Seconds of this segment overlapped by the other speaker's segments.
  double overlap_with_other_s = 0;
};

/// One functional column, marked as the LLD columns are (LldColumn::level_dependent).
struct FunctionalColumn {
  std::string name;
  /// The value follows the recording level: its source LLD does and its statistic keeps
  /// the level (a mean, a percentile, a range, a slope; the coefficient of variation is
  /// scale-free). Relative features, the temporal ones and the conversation ones do not.
  bool level_dependent = false;
};

/// The functionals over the LLD columns `lld` (marked, see lld_columns) in output order,
/// each marked from its source LLD and its statistic. The values of `segment_functionals`
/// follow this order.
std::vector<FunctionalColumn> functional_columns(const std::vector<LldColumn>& lld);

/// Names of the functionals in output order; the values of `segment_functionals` follow it.
std::vector<std::string> functional_names(const LldTable& layout);

/// Functionals of one segment. `frames` holds the segment's LLDs (columns as
/// lld_column_names). Values that are undefined for the segment (no voiced frame,
/// no text, no turn before it) are 0 with mask 0; every value is finite.
void segment_functionals(const LldTable& frames, const SegmentInfo& info,
                         const FunctionalsConfig& config, std::vector<float>& values,
                         std::vector<uint8_t>& mask);

/// The turn-taking functionals of a segment (the last of segment_functionals' values, named
/// turn_taking_names()): the gap to the other speaker's last turn and the overlap with the
/// other speaker's turns. Appended to `values` and `mask`.
void turn_taking_functionals(const SegmentInfo& info, std::vector<float>& values,
                             std::vector<uint8_t>& mask);
/// "gap_to_other_s", "overlap_with_other_s".
const std::vector<std::string>& turn_taking_names();

/// The functionals that get a "relative to the same speaker's earlier speech" twin.
const std::vector<std::string>& baseline_functionals();

/// A speaker's earlier segments in a call, as relative features need them: per name in
/// baseline_functionals(), the sum (in double, in segment order) and count of its defined
/// values. Kept running when a call's segments come one at a time (a stream).
struct BaselineSums {
  std::vector<double> sum;
  std::vector<int> count;
  /// Adds one segment's functional row (`names` its layout; at least the own functionals).
  void add(const std::vector<std::string>& names, const std::vector<float>& values,
           const std::vector<uint8_t>& mask);
};

/// Appends, for each name in baseline_functionals(), value minus the mean of that value over
/// the same speaker's earlier segments (`earlier`). Mask 0 when there is no earlier value.
void append_relative_to_baseline(const std::vector<std::string>& names,
                                 const BaselineSums& earlier, std::vector<float>& values,
                                 std::vector<uint8_t>& mask);

/// Appends, for each name in baseline_functionals(), value minus the mean of that value over
/// the same speaker's earlier segments in the call (`earlier`: their functional rows, same
/// layout). Mask 0 when there is no earlier defined value.
void append_relative_to_baseline(const std::vector<std::string>& names,
                                 const std::vector<const std::vector<float>*>& earlier,
                                 const std::vector<const std::vector<uint8_t>*>& earlier_masks,
                                 std::vector<float>& values, std::vector<uint8_t>& mask);

/// The relative features ("rel_<name>"), none level-dependent: the same speaker's earlier
/// level in the call is subtracted, so a constant offset of the recording cancels.
std::vector<FunctionalColumn> relative_columns();

/// The columns of a speech encoder's pooled states (BuildOptions::speech_encoder), speech_0 ..
/// speech_<width-1>, laid out between the own functionals and the relative ones. None is
/// marked level-dependent: a learned representation, not a level that a segment's own can
/// be subtracted from.
std::vector<FunctionalColumn> speech_columns(int64_t width);

/// Names of the relative features ("rel_<name>").
std::vector<std::string> relative_names();

/// Syllables in an English transcript: vowel groups, a final silent 'e' dropped,
/// at least one per word with letters. Digits count as their spoken syllables roughly (one per
/// digit).
int count_syllables(const std::string& text);

}  // namespace tenor::features
