#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "data/audio.h"
#include "data/dataset.h"
#include "data/diagnostics.h"
#include "data/duplicates.h"

namespace tenor::data {

struct ValidateOptions {
  int threads = 0;          ///< audio files scanned in parallel; 0 = all cores
  bool check_audio = true;  ///< open and stream every audio file
  LoadOptions load;
  int agreement_resamples = 0;  ///< bootstrap resamples for alpha (0: point estimate only)
  /// Compare recordings by fingerprint too (decodes every file a second time; needs check_audio).
  bool audio_duplicates = true;
  /// Report duplicate calls across train/dev/test as warnings instead of errors.
  bool duplicates_as_warnings = false;
  /// Near-duplicate transcripts from this shingle Jaccard index (duplicates.h).
  double duplicate_jaccard = kNearDuplicateJaccard;
};

/// Thresholds of the checks, named so docs and tests can cite them.
inline constexpr double kMinSegmentSeconds = 0.3;
inline constexpr int kMinSampleRateHz = 8000;
inline constexpr double kHeavyClippingShare = 0.01;  ///< 1 % of samples at full scale
inline constexpr double kRareClassShare = 0.01;
inline constexpr double kMinAlpha = 0.67;  ///< Krippendorff's "tentative conclusions" bound
inline constexpr double kEndToleranceSeconds = 0.005;  ///< rounding slack for segment ends
/// Duplicate pairs listed one per finding; the rest are counted in the headline (and all are
/// in ValidationResult::duplicates, `--json`).
inline constexpr size_t kMaxListedDuplicatePairs = 50;

struct ValidationResult {
  Dataset dataset;
  Diagnostics diagnostics;
  std::map<std::string, AudioScan>
      audio;  ///< by audio path as written, for files that could be read
  size_t audio_files = 0;
  uint64_t audio_bytes = 0;
  uint64_t manifest_bytes = 0;
  std::vector<DuplicatePair> duplicates;  ///< every pair of calls found alike (duplicates.h)
};

/// Validate's audio checks alone, each distinct file read once (`threads` in parallel, 0 = all
/// cores): existence, readability, truncation, no samples, sample rate, silence, clipping,
/// channels, and segments ending past their audio. Adds the findings to `diagnostics` and
/// returns the scans of the files that could be read, by path as written. `data build` applies
/// these same checks before it extracts anything.
std::map<std::string, AudioScan> check_dataset_audio(const Dataset& dataset, int threads,
                                                     Diagnostics& diagnostics);

/// Every check of the call-dataset spec: the loader's syntax and structure checks,
/// then audio (existence, readability, truncation, duration, channels, sample rate,
/// silence, clipping), segments against their audio, overlaps, splits, duplicate calls
/// (duplicates.h: one finding per pair, a headline first), repeated transcripts,
/// class balance and annotator agreement. Never modifies anything under `root`.
ValidationResult validate_dataset(const std::filesystem::path& root,
                                  const ValidateOptions& options = {});

}  // namespace tenor::data
