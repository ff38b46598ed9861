#pragma once
// The built-in fold model of `tenor data review` (what a labeller gets without --config):
// per task, L2-regularised multinomial logistic regression on the segment's functionals and
// hashed token n-grams, fitted to convergence (L-BFGS, full batch, deterministic), its penalty
// chosen by grouped inner cross-validation on the training folds alone (the nested
// cross-validation of Varma and Simon, BMC Bioinformatics 7:91, 2006; cleanlab's own default
// classifier is a logistic regression). docs/review.md says why these inputs.

#include <cstdint>
#include <string>
#include <vector>

#include "data/features/store.h"

namespace tenor::eval {

/// One task's inputs for every store row: dense [rows, dense_columns] (functionals, each
/// standardised as speaker_standardized_functionals says, and their masks where they vary;
/// none for a task that may not read the voice) and a sparse bag of hashed token uni- and
/// bigrams (CSR: text_offsets [rows + 1] into text_columns / text_values; each row's values
/// L2-normalised). Empty text for a task that may not read text or a store without tokens.
struct ReviewInputs {
  int64_t rows = 0;
  int64_t dense_columns = 0;
  std::vector<double> dense;
  int64_t text_buckets = 0;
  std::vector<int64_t> text_offsets;
  std::vector<int64_t> text_columns;
  std::vector<double> text_values;
};

/// Hashed n-gram buckets of the built-in review model (the linear baseline's hash).
constexpr int64_t kReviewTextBuckets = 16384;
/// Fewer segments than this under one meta.speaker_id: their speaker's statistics would be
/// noise, so they are standardised on the pooled segments without a speaker of their own.
constexpr int kMinSpeakerSegments = 5;

/// The store's functionals [rows, F], each segment's values standardised (z-scores) on the
/// segments of its speaker (`speakers[row]`: the call's data::Call::speaker_id, "" for none;
/// when that speaker has at least kMinSpeakerSegments segments), else on every segment
/// without such a speaker: per-speaker
/// feature normalisation as in speech emotion recognition (Schuller et al., "Acoustic
/// emotion recognition: a benchmark comparison of performances", ASRU 2009), so that a voice
/// that is loud or high by nature does not read as angry. Label-free (labels are never read).
/// Masked values (the store's mask 0) and values that are not finite are 0 and do not count
/// in the statistics; a column constant within a group is 0 there.
std::vector<double> speaker_standardized_functionals(const features::Store& store,
                                                     const std::vector<std::string>& speakers);

/// The inputs of a task that may read the functionals and/or the text (train::TaskSpec's
/// modalities: a task on the agent's turns reads no voice unless model.agent_prosody);
/// `speakers` as speaker_standardized_functionals takes them.
ReviewInputs review_inputs(const features::Store& store, const std::vector<std::string>& speakers,
                           bool functionals, bool text);

struct ReviewModelOptions {
  /// L2 penalties tried (lambda of mean class-balanced cross-entropy + lambda/2 ||W||^2),
  /// from the strongest down, each fit starting from the previous one's weights.
  std::vector<double> penalties = {10,   3,    1,    0.3,  0.1,  0.03, 0.01,
                                   3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5};
  int max_iterations = 200;  ///< L-BFGS iterations per fit
};

/// One outer fold: fitted on `train` rows, the penalty with the lowest held-out log loss over
/// the inner folds (`inner_fold` of each row; an inner fold counts where both its held-out
/// rows and the rest of `train` are not empty), then refitted on all of `train` and scored on
/// `test`: probabilities [test.size(), classes] row-major. `labels` per row, -1 where
/// unlabelled (such rows are never used). Deterministic: the same inputs give the same bits.
struct FoldPrediction {
  std::vector<double> probs;
  double penalty = 0;  ///< the penalty chosen
};
FoldPrediction fit_and_predict(const ReviewInputs& inputs, const std::vector<int>& labels,
                               int classes, const std::vector<int64_t>& train,
                               const std::vector<int64_t>& test,
                               const std::vector<int>& inner_fold,
                               const ReviewModelOptions& options = {});

}  // namespace tenor::eval
