#include "export/ort_runner.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <random>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"

#ifndef TENOR_ORT_DEFAULT_DIR
#define TENOR_ORT_DEFAULT_DIR "tools/ort"
#endif

namespace tenor::onnx_export {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kInstallFix =
    "install it with `npm --prefix tools/ort install --ignore-scripts` (Node.js >= 16 and npm "
    "from Debian's nodejs/npm packages), or point TENOR_ORT_DIR at a directory holding run.js "
    "and node_modules/onnxruntime-node";

size_t elem_size(const std::string& dtype) {
  if (dtype == "float32" || dtype == "int32") return 4;
  if (dtype == "int64") return 8;
  throw ExportError("tensor dtype '" + dtype + "' is not supported (float32, int32, int64)");
}

/// How a child process ended: its exit status, or the signal that killed it.
struct ProcessEnd {
  int exit_code = 0;  ///< 127: could not start
  int signal = 0;     ///< > 0: killed by this signal (exit_code is then -1)
  bool ok() const { return exit_code == 0 && signal == 0; }
};

/// Runs argv, stdout and stderr to `log`.
ProcessEnd run_process(const std::vector<std::string>& argv, const fs::path& log) {
  pid_t pid = fork();
  if (pid < 0) throw ExportError(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) return {-1, WTERMSIG(status)};
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0};
}

/// "signal 11 (SIGSEGV, Segmentation fault)".
std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  const char* text = ::strsignal(sig);
  return "signal " + std::to_string(sig) + " (" + (abbrev ? std::string("SIG") + abbrev : "?") +
         ", " + (text ? text : "unknown") + ")";
}

fs::path make_temp_dir() {
  std::random_device rd;
  fs::path dir = fs::temp_directory_path() /
                 ("tenor-ort-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(dir);
  return dir;
}

/// Removes a temporary directory when it goes out of scope.
struct TempDir {
  fs::path path = make_temp_dir();
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

json tensor_json(const HostTensor& t, const std::string& file) {
  return {{"dtype", t.dtype}, {"dims", t.dims}, {"file", file}};
}

HostTensor read_tensor(const fs::path& dir, const json& j) {
  HostTensor t;
  t.dtype = j.at("dtype");
  t.dims = j.at("dims").get<std::vector<int64_t>>();
  t.bytes = read_file(dir / j.at("file").get<std::string>());
  if (t.bytes.size() != size_t(t.numel()) * elem_size(t.dtype))
    throw ExportError((dir / j.at("file").get<std::string>()).string() + " has " +
                      std::to_string(t.bytes.size()) + " bytes, expected " +
                      std::to_string(size_t(t.numel()) * elem_size(t.dtype)));
  return t;
}

}  // namespace

int64_t HostTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

const float* HostTensor::f32() const {
  if (dtype != "float32") throw ExportError("expected a float32 tensor, got " + dtype);
  return reinterpret_cast<const float*>(bytes.data());
}

const int64_t* HostTensor::i64() const {
  if (dtype != "int64") throw ExportError("expected an int64 tensor, got " + dtype);
  return reinterpret_cast<const int64_t*>(bytes.data());
}

HostTensor HostTensor::from_f32(std::vector<int64_t> dims, const std::vector<float>& values) {
  HostTensor t{"float32", std::move(dims), {}};
  t.bytes.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return t;
}

HostTensor HostTensor::from_i64(std::vector<int64_t> dims, const std::vector<int64_t>& values) {
  HostTensor t{"int64", std::move(dims), {}};
  t.bytes.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t));
  return t;
}

fs::path ort_dir() {
  if (const char* env = std::getenv("TENOR_ORT_DIR"); env && *env) return env;
  return TENOR_ORT_DEFAULT_DIR;
}

void require_onnx_runtime() {
  const fs::path dir = ort_dir();
  if (!fs::exists(dir / "run.js"))
    throw ExportError("the ONNX Runtime runner " + (dir / "run.js").string() + " is missing; " +
                      kInstallFix);
  if (!fs::exists(dir / "node_modules/onnxruntime-node/package.json"))
    throw ExportError("onnxruntime-node is not installed in " + (dir / "node_modules").string() +
                      "; the parity gate needs ONNX Runtime: " + kInstallFix);
  TempDir tmp;
  if (!run_process({"node", "--version"}, tmp.path / "log").ok())
    throw ExportError(std::string("`node` was not found on PATH; the parity gate runs ONNX "
                                  "Runtime through Node.js: install Debian's nodejs package "
                                  "and then ") +
                      kInstallFix);
}

void write_cases(const fs::path& dir, const std::vector<OrtCase>& cases) {
  fs::create_directories(dir);
  json spec = {{"cases", json::array()}};
  for (const auto& c : cases) {
    json inputs = json::object(), expected = json::object();
    for (const auto& [name, t] : c.inputs) {
      std::string file = c.name + "." + name + ".bin";
      write_file_atomic(dir / file, t.bytes);
      inputs[name] = tensor_json(t, file);
    }
    for (const auto& [name, t] : c.expected) {
      std::string file = c.name + ".expected." + name + ".bin";
      write_file_atomic(dir / file, t.bytes);
      expected[name] = tensor_json(t, file);
    }
    json jc = {{"name", c.name},
               {"description", c.description},
               {"row_ids", c.row_ids},
               {"inputs", inputs}};
    if (!c.expected.empty()) jc["expected"] = expected;
    spec["cases"].push_back(jc);
  }
  write_file_atomic(dir / "cases.json", spec.dump(1));
}

std::vector<OrtCase> read_cases(const fs::path& cases_json) {
  const fs::path dir = cases_json.parent_path();
  json spec = json::parse(read_file(cases_json));
  std::vector<OrtCase> out;
  for (const auto& jc : spec.at("cases")) {
    OrtCase c;
    c.name = jc.at("name");
    c.description = jc.value("description", "");
    c.row_ids = jc.value("row_ids", std::vector<std::string>{});
    for (const auto& [name, t] : jc.at("inputs").items()) c.inputs[name] = read_tensor(dir, t);
    if (jc.contains("expected"))
      for (const auto& [name, t] : jc.at("expected").items())
        c.expected[name] = read_tensor(dir, t);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<OrtResult> run_onnx_runtime(const fs::path& model, const fs::path& cases_json,
                                        const OrtOptions& options) {
  require_onnx_runtime();
  TempDir tmp;
  const fs::path out = tmp.path / "out", log = tmp.path / "node.log";
  const ProcessEnd end =
      run_process({"node", (ort_dir() / "run.js").string(), "--model", fs::absolute(model).string(),
                   "--cases", fs::absolute(cases_json).string(), "--out", out.string(), "--threads",
                   std::to_string(options.threads), "--repeat", std::to_string(options.repeat),
                   "--warmup", std::to_string(options.warmup)},
                  log);
  if (!end.ok()) {
    std::string text = fs::exists(log) ? read_file(log) : "";
    if (text.size() > 4000) text = "..." + text.substr(text.size() - 4000);
    if (end.signal > 0)  // a crash inside ONNX Runtime, not an error it reported
      throw ExportError("ONNX Runtime crashed running " + model.string() + ": its process (node " +
                        (ort_dir() / "run.js").string() + ") was killed by " +
                        signal_name(end.signal) + (text.empty() ? "" : " after: " + text) +
                        "; check the model with `tenor export verify` and the call's input, and "
                        "report the crash with the command that caused it");
    throw ExportError("ONNX Runtime failed on " + model.string() + " (node exit " +
                      std::to_string(end.exit_code) + "): " + text);
  }
  json report = json::parse(read_file(out / "outputs.json"));
  std::vector<OrtResult> results;
  for (const auto& jc : report.at("cases")) {
    OrtResult r;
    r.name = jc.at("name");
    for (const auto& [name, t] : jc.at("outputs").items()) r.outputs[name] = read_tensor(out, t);
    r.latency_ms = jc.at("latency_ms").get<std::vector<double>>();
    results.push_back(std::move(r));
  }
  return results;
}

std::vector<OrtResult> run_onnx_runtime(const fs::path& model, const std::vector<OrtCase>& cases,
                                        const OrtOptions& options) {
  TempDir tmp;
  write_cases(tmp.path / "cases", cases);
  return run_onnx_runtime(model, tmp.path / "cases/cases.json", options);
}

}  // namespace tenor::onnx_export
