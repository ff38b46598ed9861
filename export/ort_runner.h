#pragma once
// ONNX Runtime (CPU) through npm's onnxruntime-node: tensors are written as raw
// little-endian files with a cases.json, `node tools/ort/run.js` runs them, and the outputs
// are read back. No LibTorch here.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace tenor::onnx_export {

/// A tensor on the host: "float32" or "int64", row-major little-endian bytes.
struct HostTensor {
  std::string dtype;
  std::vector<int64_t> dims;
  std::string bytes;

  int64_t numel() const;
  const float* f32() const;  ///< throws ExportError unless dtype is float32
  const int64_t* i64() const;
  static HostTensor from_f32(std::vector<int64_t> dims, const std::vector<float>& values);
  static HostTensor from_i64(std::vector<int64_t> dims, const std::vector<int64_t>& values);
};
using TensorMap = std::map<std::string, HostTensor>;

/// One model run: named inputs; `expected` holds reference outputs (parity fixtures).
struct OrtCase {
  std::string name;
  TensorMap inputs;
  TensorMap expected;
  std::string description;           ///< what the case exercises (parity report)
  std::vector<std::string> row_ids;  ///< "call_id#segment" of each batch row
};

struct OrtResult {
  std::string name;
  TensorMap outputs;
  std::vector<double> latency_ms;  ///< with OrtOptions::repeat > 0
};

struct OrtOptions {
  int threads = 1;  ///< intra-op threads of the session
  int repeat = 0;   ///< timed runs per case (0: one untimed run)
  int warmup = 0;
};

/// The directory of tools/ort (run.js, node_modules): $TENOR_ORT_DIR, else the source tree's.
std::filesystem::path ort_dir();

/// Throws ExportError with the fix when node or onnxruntime-node is missing: the gate never
/// skips silently.
void require_onnx_runtime();

/// Writes cases.json and the tensor files into `dir` (created).
void write_cases(const std::filesystem::path& dir, const std::vector<OrtCase>& cases);
/// Reads what write_cases wrote.
std::vector<OrtCase> read_cases(const std::filesystem::path& cases_json);

/// Runs `model` on the cases of `cases_json` (written by write_cases). Throws ExportError
/// with node's message when it fails.
std::vector<OrtResult> run_onnx_runtime(const std::filesystem::path& model,
                                        const std::filesystem::path& cases_json,
                                        const OrtOptions& options = {});
/// Same, writing the cases to a temporary directory first.
std::vector<OrtResult> run_onnx_runtime(const std::filesystem::path& model,
                                        const std::vector<OrtCase>& cases,
                                        const OrtOptions& options = {});

}  // namespace tenor::onnx_export
