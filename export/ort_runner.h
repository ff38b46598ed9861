#pragma once
// ONNX Runtime (CPU) through npm's onnxruntime-node. No registry this project reaches ships
// ONNX Runtime's C API header with its library (docs/export.md), so ONNX Runtime runs in one
// long-lived Node.js child per tenor process (tools/ort/run.js --serve), started on first use
// and reused by every model and call: length-prefixed frames on its stdin and stdout carry
// "load a model", "run these inputs" and the outputs. A child that crashes, exits or does not
// answer within the timeout is killed and reported (IoError); the next call starts a new one.
// Parity fixtures are stored as raw little-endian files with a cases.json (write_cases,
// read_cases). No LibTorch here.

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
  std::vector<double> latency_ms;  ///< with OrtOptions::repeat > 0: wall time of each run
  std::vector<double> cpu_ms;      ///< and the runner's CPU time during it
};

struct OrtOptions {
  int threads = 1;  ///< intra-op threads of the session
  int repeat = 0;   ///< timed runs per case (0: one untimed run)
  int warmup = 0;
  /// Seconds one request (start, model load, one case with its repeats) may take before the
  /// child counts as hung; 0: $TENOR_ORT_TIMEOUT_S, else 600.
  double timeout_s = 0;
};

/// The directory holding run.js and node_modules/onnxruntime-node: $TENOR_ORT_DIR when set,
/// else `share/tenor/ort` in the directory of the running binary or up to three directories
/// above it (an installed `PREFIX/bin/tenor` finds `PREFIX/share/tenor/ort`; the build tree's
/// `build/share/tenor/ort` links to the source tree's tools/ort).
std::filesystem::path ort_dir();

/// Starts the runner if it is not running. Throws ExportError with the fix when node or
/// onnxruntime-node is missing: the gate never skips silently.
void require_onnx_runtime();

/// The process id of the running runner child, or -1 (tests and diagnostics).
int onnx_runtime_pid();

/// Asks the runner to exit and waits for it (a few seconds at most, then kills it); the next
/// use starts a new one. Also done when the process exits; never throws.
void shutdown_onnx_runtime();

/// A model loaded in the runner: loaded on the first run (and again after the runner was
/// restarted), unloaded when destroyed. run() is safe to call from several threads; the
/// runner serves one request at a time.
class OrtSession {
 public:
  explicit OrtSession(std::filesystem::path model, OrtOptions options = {});
  ~OrtSession();
  OrtSession(const OrtSession&) = delete;
  OrtSession& operator=(const OrtSession&) = delete;

  /// Runs the case's inputs (options.repeat / warmup timed runs). Throws ExportError when ONNX
  /// Runtime refuses the model or the inputs (its message), IoError when the runner crashed,
  /// exited or hung.
  OrtResult run(const OrtCase& c);
  const std::filesystem::path& model() const { return model_; }

  /// Which runner process holds the model under which id (0: not loaded).
  struct Slot {
    int64_t id = 0;
    uint64_t generation = 0;
  };

 private:
  std::filesystem::path model_;
  OrtOptions options_;
  Slot slot_;
};

/// Writes cases.json and the tensor files into `dir` (created).
void write_cases(const std::filesystem::path& dir, const std::vector<OrtCase>& cases);
/// Reads what write_cases wrote.
std::vector<OrtCase> read_cases(const std::filesystem::path& cases_json);

/// Runs `model` on the cases of `cases_json` (written by write_cases) in one OrtSession.
/// Throws as OrtSession::run.
std::vector<OrtResult> run_onnx_runtime(const std::filesystem::path& model,
                                        const std::filesystem::path& cases_json,
                                        const OrtOptions& options = {});
/// Same, from cases in memory.
std::vector<OrtResult> run_onnx_runtime(const std::filesystem::path& model,
                                        const std::vector<OrtCase>& cases,
                                        const OrtOptions& options = {});

}  // namespace tenor::onnx_export
