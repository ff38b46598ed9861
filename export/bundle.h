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
  /// "int8": the pretrained text encoder's MatMuls dynamically quantised (GraphOptions::
  /// int8_encoder), gated at parity.tolerance and parity.min_agreement, kInt8ParityTolerance
  /// and kInt8MinAgreement where unset (gate_of); "" (or "none"): fp32, the default. A model
  /// without a pretrained text encoder is refused (UsageError).
  std::string quantize;
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

}  // namespace tenor::onnx_export
