#pragma once
// What `tenor export` records about a bundle beyond its checksums, and what `export verify`
// checks against it: the parity fixtures it wrote (so that emptied or cut fixtures fail rather
// than pass with nothing to compare) and the model's graph inputs and outputs (so that another
// model.onnx fails even with its checksum fixed). No LibTorch here.

#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>

#include "export/ort_runner.h"

namespace tenor::onnx_export {

/// The bundle's files against its manifest.json: the manifest is a tenor bundle's, every file it
/// lists is there with its SHA-256, and no file was added. Returns the manifest. Throws
/// ExportError naming the bundle, the file and the fix. `tenor export verify` and every reader
/// of a bundle (onnx_export::BundlePredictor: `tenor predict --bundle`, tenor::scoring) check
/// this first, so a tampered or incomplete bundle is refused before it scores anything.
nlohmann::json check_bundle_files(const std::filesystem::path& bundle);

/// The fixtures a bundle holds: {"cases": N, "rows": R, "rows_by_case": {name: rows}}. Rows
/// are the batch size of each case's inputs.
nlohmann::json fixture_record(const std::vector<OrtCase>& fixtures);

/// The model's graph inputs and outputs: {"inputs": [...], "outputs": [...]}, each
/// {"name", "elem_type" (ONNX's name, e.g. "FLOAT"), "dims" (ints, or strings for symbolic
/// dims)}.
nlohmann::json model_io(const onnx::ModelProto& model);

/// Checks `model` against manifest.json's `model_io` and the facts the export stamped in both
/// (created_utc, tenor.parity_fixtures). Throws ExportError naming the bundle, the input or
/// output, what the manifest says and what the model has.
void check_model_matches_manifest(const std::filesystem::path& bundle,
                                  const onnx::ModelProto& model, const nlohmann::json& manifest);

/// Checks the fixtures read from parity/cases.json against manifest.json's `parity_fixtures`:
/// none, fewer cases or fewer rows than the export wrote fail. Throws ExportError.
void check_fixtures_match_manifest(const std::filesystem::path& bundle,
                                   const std::vector<OrtCase>& fixtures,
                                   const nlohmann::json& manifest);

}  // namespace tenor::onnx_export
