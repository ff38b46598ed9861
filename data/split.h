#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/duplicates.h"

namespace tenor::data {

struct SplitOptions {
  double train = 0.8;
  double dev = 0.1;
  double test = 0.1;
  uint64_t seed = 1;
  bool reassign = false;      ///< ignore splits already in the dataset
  std::string stratify_task;  ///< task whose labels balance the splits; "" = first task
  bool audio_duplicates = false;  ///< also group calls whose recordings match (decodes all audio)
  /// Near-duplicate transcripts from this shingle Jaccard index (duplicates.h).
  double duplicate_jaccard = kNearDuplicateJaccard;
  void validate() const;      ///< throws UsageError
  DuplicateOptions duplicate_options() const;  ///< how group_calls finds duplicates
};

/// Assigns train/dev/test to every call, grouped so that no call, no
/// meta.speaker_id and no pair of duplicate calls (duplicates.h) is in two splits (calls sharing
/// a speaker or duplicating each other form one group),
/// stratified by the primary task's label (each group's stratum is the rarest
/// class it contains, so rare classes spread over all splits), balancing segment
/// counts to the ratios. Deterministic for a seed. Calls that already have a split
/// keep it (their whole group follows) unless `reassign`. Throws DataError if
/// existing splits put one group in two splits and `reassign` is off.
Dataset assign_splits(const Dataset& dataset, const SplitOptions& options);

/// The fold (0 .. folds-1) of every call for k-fold cross-validation (`tenor data review`):
/// the same groups as assign_splits (a call, a meta.speaker_id, duplicate calls never span two
/// folds), stratified the same way, segment counts balanced to equal shares; existing splits
/// are ignored; `duplicates` says how duplicates are found (`data review` compares audio too).
/// Deterministic for a seed. UsageError when folds < 2; DataError when there are fewer groups
/// than folds.
std::vector<int> assign_folds(const Dataset& dataset, int folds, uint64_t seed,
                              const std::string& stratify_task = "",
                              const DuplicateOptions& duplicates = {});

/// K cross-validation copies of `dataset`, to choose a config on more speakers than one dev
/// split holds (`tenor data split --folds`): the calls outside the test split are cut into
/// folds by assign_folds (the groups and strata of assign_splits; `options` gives the seed,
/// the task to stratify by and how duplicates are found); in copy k those of fold k are the
/// dev split and the others train, and the test split is kept as it is, so no copy trains or
/// chooses on it. Throws as assign_folds does.
std::vector<Dataset> fold_datasets(const Dataset& dataset, int folds, const SplitOptions& options);

enum class ManifestFormat { kJsonl, kCsv };

/// Writes `dataset` as a new dataset directory at `out`: dataset.yaml (copied),
/// calls.jsonl (or segments.csv), and symbolic links to the input's audio (never copied). Refuses
/// an existing non-empty `out` and any `out` inside the input dataset. Built in a
/// temporary sibling directory and renamed into place.
void write_derived_dataset(const Dataset& dataset, const std::filesystem::path& out,
                           ManifestFormat format = ManifestFormat::kJsonl);

/// fold_datasets' copies as the dataset directories OUT/fold1 .. OUT/foldK, each as
/// write_derived_dataset writes one; all of them or none (built beside `out`, renamed into
/// place). Refuses what write_derived_dataset refuses.
void write_fold_datasets(const std::vector<Dataset>& folds, const std::filesystem::path& out);

}  // namespace tenor::data
