#pragma once
// The parity gate: the exported graph in ONNX Runtime against the LibTorch model on the
// same segments (the dev split and edge cases), probabilities within a tolerance and every
// decision the same.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/decision.h"
#include "export/ort_runner.h"
#include "train/data.h"
#include "train/predict.h"

namespace tenor::onnx_export {

/// The graph's inputs for store rows, those `transform` reads: raw LLDs (not cut to
/// max_frames: the graph cuts), raw functionals with the store's mask, and token ids,
/// zero-padded. With transform.context_tokens > 0 also each row's previous segment's tokens
/// (features::previous_segments, uncut: the graph cuts); `previous`, when given, is that
/// map already computed for `store` (TrainData::previous), so it is not built again. With
/// transform.text_embedding_dim > 0 also the store's sentence embeddings (DataError when it
/// holds none). Under speaker normalisation (transform.per_speaker()) also each row's speaker
/// statistics in its call (train::speaker_statistics of `store`; `speaker`, when given, is
/// that already computed, TrainData::speaker).
TensorMap raw_inputs(const features::Store& store, const std::vector<int64_t>& rows,
                     const train::InputTransform& transform,
                     const std::vector<int64_t>* previous = nullptr,
                     const train::SpeakerStatistics* speaker = nullptr);

/// The input transform of a bundle: its input_transform.json, or, in a bundle exported
/// before it had one, the inputs its features.json records (cuts, context tokens, sentence
/// embeddings; the statistics are in the graph). Throws DataError naming the file.
train::InputTransform bundle_input_transform(const std::filesystem::path& bundle);

/// "call_id#segment" per row.
std::vector<std::string> row_ids(const features::Store& store, const std::vector<int64_t>& rows);

/// What an edge case changes in the segments.
enum class Edit { kNone, kLength1, kNoProsody, kNoFunctionals, kNoText };

/// A copy of `data` holding only `rows` (re-indexed 0..n-1, all in dev), edited.
train::TrainData derive(const train::TrainData& data, const std::vector<int64_t>& rows, Edit edit);

/// One batch of the gate: data (shared with other cases) and its rows.
struct ParityCase {
  std::string name;
  std::string description;
  std::shared_ptr<const train::TrainData> data;
  std::vector<int64_t> rows;
  bool edge = false;  ///< an edge case (kept as a fixture in the bundle)
};

struct ParityConfig {
  double tolerance = 1e-4;  ///< max |p_onnx - p_torch| over every probability
  int batch_size = 64;
  int edge_rows = 16;    ///< rows of each edit edge case
  int fixture_rows = 4;  ///< rows of each case kept in the bundle for `verify`
};

/// The dev split in batches (test, then train, when dev is empty) and the edge cases:
/// batch 1, length 1, each modality missing, the longest segment of the store.
std::vector<ParityCase> parity_cases(std::shared_ptr<const train::TrainData> data,
                                     const ParityConfig& config);

/// The first `rows` rows of a case, frames and tokens cut to the longest kept row: what a
/// bundle keeps as a `verify` fixture (a case of the whole dev batch would make bundles of
/// megabytes for a model of kilobytes). Rows are independent in the model, so the expected
/// outputs are the case's own rows.
OrtCase fixture_of(const OrtCase& c, int64_t rows);

/// LibTorch's probabilities as the `expected` outputs of ORT cases ("prob_<task>").
std::vector<OrtCase> reference_cases(train::LoadedRun& run, const std::vector<ParityCase>& cases);

/// Compares ORT outputs with the expected ones; decisions under `rules`. Report JSON: tolerance, passed, max delta and
/// where (case, row id, task, class), decision agreement per case and task.
nlohmann::json compare_outputs(const std::vector<train::TaskSpec>& tasks,
                               const eval::DecisionRules& rules,
                               const std::vector<OrtCase>& cases,
                               const std::vector<OrtResult>& results, double tolerance);

/// One line saying where parity failed (or that it passed) from a compare_outputs report.
std::string parity_summary(const nlohmann::json& report);

}  // namespace tenor::onnx_export
