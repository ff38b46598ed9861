#pragma once
// The release bundle of a trained run: model.onnx (opset 17, raw-feature inputs, normalised
// in the graph), manifest.json with SHA-256 of every file, model_card.md, the run's config,
// label maps, calibration, feature-set facts, the SentencePiece model and the parity report
// with its fixtures (docs/export.md).

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "export/parity.h"

namespace tenor::onnx_export {

struct ExportOptions {
  std::filesystem::path run;  ///< a finished `tenor train` run directory
  std::filesystem::path out;  ///< bundle directory (must not exist unless force)
  std::string parity_data;    ///< feature store for the gate ("": the run's own)
  std::string checkpoint = "best.pt";
  ParityConfig parity;
  bool force = false;  ///< replace an existing bundle
};

struct ExportResult {
  std::filesystem::path bundle;
  nlohmann::json parity;  ///< the parity report (parity.json)
};

/// Builds, checks (onnx::checker, shape inference, parity gate in ONNX Runtime) and writes
/// the bundle atomically (temporary directory renamed into place). Throws ExportError when
/// the gate fails, saying where; the rejected bundle is left at `<out>.rejected` for study.
ExportResult export_bundle(const ExportOptions& options);

/// Re-checks a bundle: every file's SHA-256 against manifest.json (missing, changed or
/// unlisted files fail), the model with onnx::checker, and parity of the bundled fixtures in
/// ONNX Runtime against the LibTorch outputs stored with them. Returns the report; throws
/// ExportError naming the first problem.
nlohmann::json verify_bundle(const std::filesystem::path& bundle);

/// What `tenor predict` prints for one call: per segment, for each task of the segment's
/// speaker role, the probabilities, the calibrated probabilities and the decision (class name).
nlohmann::json segment_scores(const features::Store& store, const std::vector<int64_t>& rows,
                              const std::vector<train::TaskSpec>& tasks,
                              const std::vector<TaskCalibration>& calibration,
                              const std::vector<HostTensor>& probs);

/// Store rows of one call, in segment order; throws DataError naming the call when absent.
std::vector<int64_t> call_rows(const features::Store& store, const std::string& call_id);

/// Calibration of a bundle (calibration.json) and its tasks (shape.json; class names from
/// labels.json where shape.json predates them).
std::vector<TaskCalibration> read_calibration(const std::filesystem::path& bundle);
std::vector<train::TaskSpec> read_tasks(const std::filesystem::path& bundle);

/// What a bundle's model reads from a feature store (features.json, shape.json, labels.json),
/// for train::check_store_for_model.
train::StoreContract store_contract(const std::filesystem::path& bundle);

/// Calibration a run gets at export: fitted on the dev split of `data` (LibTorch).
std::vector<TaskCalibration> run_calibration(train::LoadedRun& run, const train::TrainData& data);

/// run_calibration of `checkpoint` (a file in the run directory, as loaded into `run`),
/// kept in RUN/predict-calibration.json under the checkpoint's and the store's sha256 and
/// the tool's version: `tenor predict --run` fits it once instead of predicting the dev
/// split on every call. A stale, damaged or unwritable cache only costs the refit.
std::vector<TaskCalibration> cached_run_calibration(train::LoadedRun& run,
                                                    const train::TrainData& data,
                                                    const std::string& checkpoint);

}  // namespace tenor::onnx_export
