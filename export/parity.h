#pragma once
// The parity gate: the exported graph in ONNX Runtime against the LibTorch model on the
// same segments (the dev split and edge cases), probabilities within a tolerance and every
// decision the same.

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
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
/// map already computed for `store` (TrainData::previous), so it is not built again. Under
/// speaker normalisation (transform.per_speaker()) also each row's speaker statistics in its
/// call (train::speaker_statistics of `store`; `speaker`, when given, is that already
/// computed, TrainData::speaker).
TensorMap raw_inputs(const features::Store& store, const std::vector<int64_t>& rows,
                     const train::InputTransform& transform,
                     const std::vector<int64_t>* previous = nullptr,
                     const train::SpeakerStatistics* speaker = nullptr);

/// The input transform of a bundle: its input_transform.json, or, in a bundle exported
/// before it had one, the inputs its features.json records (cuts, context tokens; the
/// statistics are in the graph). Throws DataError naming the file, also for a bundle whose
/// model reads sentence embeddings (model.text_embedding, gone since 2026-12-06).
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

/// The gate of an fp32 graph: every probability within 1e-4 of LibTorch's, every decision the
/// same. The gate of one whose text encoder is int8 (`tenor export --quantize int8`): the
/// quantised activations move probabilities by up to a few tenths and flip the decisions of
/// segments that sit near a threshold (docs/export.md gives the measured figures), so every
/// probability within kInt8ParityTolerance and, per task over every case, at least
/// kInt8MinAgreement of the decisions the same.
inline constexpr double kParityTolerance = 1e-4;
inline constexpr double kInt8ParityTolerance = 0.35;
inline constexpr double kInt8MinAgreement = 0.95;

struct ParityConfig {
  /// Max |p_onnx - p_torch| over every probability; unset: the gate of the graph's precision
  /// (gate_of: kParityTolerance for fp32, kInt8ParityTolerance for an int8 encoder).
  std::optional<double> tolerance;
  /// Share of the decisions per task, over every case, that must be the same: at most
  /// floor((1 - min_agreement) x rows) may differ (1: every one the same, in every case);
  /// unset: 1 for fp32, kInt8MinAgreement for an int8 encoder.
  std::optional<double> min_agreement;
  int batch_size = 64;
  int edge_rows = 16;    ///< rows of each edit edge case
  int fixture_rows = 4;  ///< rows of each case kept in the bundle for `verify`
};

/// The gate an export is held to: what `config` gives, the rest from the graph's precision.
/// Throws UsageError for a tolerance below 0 or an agreement outside (0, 1].
struct ParityGate {
  double tolerance;
  double min_agreement;
};
ParityGate gate_of(const ParityConfig& config, bool int8_encoder);

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

/// Compares ORT outputs with the expected ones; decisions under `rules`. Every case must hold
/// each probability within `tolerance`. With min_agreement 1 (and no max_disagreements) every
/// decision of every case must be the same; otherwise, per task over every case, at most
/// max_disagreements[task] decisions may differ where given (`verify`: what the export's gate
/// found on the fixtures it kept), else floor((1 - min_agreement) x rows). Report JSON:
/// tolerance, min_agreement, passed, failures, max delta and where (case, row id, task,
/// class), decision agreement per case and task and per task over every case.
nlohmann::json compare_outputs(const std::vector<train::TaskSpec>& tasks,
                               const eval::DecisionRules& rules,
                               const std::vector<OrtCase>& cases,
                               const std::vector<OrtResult>& results, double tolerance,
                               double min_agreement = 1.0,
                               const std::map<std::string, int64_t>* max_disagreements = nullptr);

/// One line saying where parity failed (or that it passed) from a compare_outputs report.
std::string parity_summary(const nlohmann::json& report);

}  // namespace tenor::onnx_export
