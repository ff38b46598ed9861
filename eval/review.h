#pragma once
// `tenor data review`: which labels of a dataset are probably wrong. Out-of-fold predicted
// probabilities (k folds grouped as `tenor data split` groups calls: by call, speaker and
// duplicate), then confident learning (eval/confident_learning.h) per task, and each
// annotator's agreement with the consensus (data/agreement.h). docs/review.md has the format.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tenor::eval {

struct ReviewOptions {
  /// A training config (`tenor train`'s keys) for the fold models; "": the built-in model
  /// (eval/review_model.h: logistic regression, its penalty chosen by inner cross-validation).
  /// Its `features` and `out` are replaced.
  std::filesystem::path config;
  /// `key=value`, applied after the config; UsageError without a config (the built-in model
  /// has no keys).
  std::vector<std::string> overrides;
  int folds = 5;
  uint64_t seed = 1;  ///< of the fold assignment
  std::string device;  ///< "": the config's
  bool audio = true;  ///< embed each suspect's audio in review.html when the file is at hand
  bool progress = true;
};

struct ReviewSummary {
  size_t segments = 0;  ///< labelled segments scored out of fold
  size_t suspects = 0;
  double seconds = 0;
};

/// Reviews the labels of `dataset` into `out`: review.json (the suspects, most likely wrong
/// first; thresholds, confident joint and annotators per task), oof.jsonl (the out-of-fold
/// probabilities) and review.html, written atomically, all or none. Refuses an `out` inside
/// the dataset (UsageError), a dataset that does not validate (DataError), fewer groups of
/// calls than folds (DataError). Never writes into the dataset; the fold models and the
/// feature store live in a temporary directory in `out`, removed when done (also on failure
/// or interrupt).
ReviewSummary review_dataset(const std::filesystem::path& dataset,
                             const std::filesystem::path& out, const ReviewOptions& options);

}  // namespace tenor::eval
