#include "export/ort_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"

namespace tenor::onnx_export {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kInstallFix =
    "install onnxruntime-node with `npm --prefix tools/ort install --ignore-scripts` in the "
    "source tree (scripts/install-deps.sh does it; Node.js >= 16 and npm from Debian's "
    "nodejs/npm packages), or with `npm --prefix PREFIX/share/tenor/ort ci --ignore-scripts` "
    "beside an installed PREFIX/bin/tenor, or point TENOR_ORT_DIR at a directory holding "
    "run.js and node_modules/onnxruntime-node";
constexpr const char* kCrashFix =
    "check the model with `tenor export verify` and the input, and report it with the "
    "command that caused it (the next call starts a new process)";
constexpr double kDefaultTimeoutS = 600;
constexpr size_t kPrefixBytes = 12;               // u32 header length, u64 payload length
constexpr uint32_t kMaxHeaderBytes = 64u << 20;   // a reply header is a few kB
constexpr uint64_t kMaxPayloadBytes = 64ull << 30;

size_t elem_size(const std::string& dtype) {
  if (dtype == "float32" || dtype == "int32") return 4;
  if (dtype == "int64") return 8;
  throw ExportError("tensor dtype '" + dtype + "' is not supported (float32, int32, int64)");
}

/// "signal 11 (SIGSEGV, Segmentation fault)".
std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  const char* text = ::strsignal(sig);
  return "signal " + std::to_string(sig) + " (" + (abbrev ? std::string("SIG") + abbrev : "?") +
         ", " + (text ? text : "unknown") + ")";
}

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

double timeout_from_env() {
  const char* env = std::getenv("TENOR_ORT_TIMEOUT_S");
  if (!env || !*env) return kDefaultTimeoutS;
  char* end = nullptr;
  const double s = std::strtod(env, &end);
  if (*end != '\0' || !(s > 0))
    throw UsageError(std::string("TENOR_ORT_TIMEOUT_S='") + env +
                     "' is not a positive number of seconds; set it to e.g. 600 or unset it");
  return s;
}

double timeout_of(const OrtOptions& o) { return o.timeout_s > 0 ? o.timeout_s : timeout_from_env(); }

/// A point in time a request must be done by.
struct Deadline {
  std::chrono::steady_clock::time_point at;
  double seconds;
  explicit Deadline(double s)
      : at(std::chrono::steady_clock::now() +
           std::chrono::duration_cast<std::chrono::steady_clock::duration>(
               std::chrono::duration<double>(s))),
        seconds(s) {}
  int remaining_ms() const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        at - std::chrono::steady_clock::now());
    return int(std::clamp<int64_t>(left.count(), 0, 60'000));
  }
  bool passed() const { return std::chrono::steady_clock::now() >= at; }
};

/// Blocks SIGPIPE in this thread while writing to the child, so that a child that died gives
/// EPIPE instead of killing tenor; a SIGPIPE raised meanwhile is consumed.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      const timespec zero{0, 0};
      while (sigtimedwait(&pipe_, nullptr, &zero) > 0) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_{}, old_{};
  bool was_pending_ = false;
};

/// One message of the protocol (tools/ort/run.js): a JSON header and a binary payload.
struct Frame {
  json header;
  std::string payload;
};

std::string frame_bytes(const json& header, const std::string& payload) {
  const std::string head = header.dump();
  std::string out(kPrefixBytes, '\0');
  const auto head_len = uint32_t(head.size());
  const auto payload_len = uint64_t(payload.size());
  std::memcpy(out.data(), &head_len, 4);  // little-endian hosts only (x86-64, arm64)
  std::memcpy(out.data() + 4, &payload_len, 8);
  out += head;
  out += payload;
  return out;
}

/// The process's one ONNX Runtime child. Every member is used under mutex_.
class Runner {
 public:
  std::mutex mutex_;

  /// Starts the child when none runs (or TENOR_ORT_DIR now names another directory).
  void ensure_started(const std::string& context, double timeout_s);
  /// Starts the child if needed, sends `request` and returns the reply; ok:false becomes
  /// ExportError(context: message).
  Frame call(const json& request, const std::string& payload, const std::string& context,
             double timeout_s);
  /// The same with the running child only (pid() > 0).
  Frame exchange(const json& request, const std::string& payload, const std::string& context,
                 double timeout_s);
  void load(const fs::path& model, const OrtOptions& o, OrtSession::Slot& slot);
  void stop();
  pid_t pid() const { return pid_; }
  uint64_t generation() const { return generation_; }

 private:
  void spawn(const fs::path& dir);
  Frame read_frame(const Deadline& d, const std::string& context);
  void write_all(const std::string& bytes, const Deadline& d, const std::string& context);
  void read_exact(char* dst, size_t n, const Deadline& d, const std::string& context);
  [[noreturn]] void fail_ended(const std::string& context);
  [[noreturn]] void fail(const std::string& what, const std::string& context,
                         const std::string& fix = kCrashFix);
  [[noreturn]] void fail_timeout(const Deadline& d, const std::string& context);
  std::string log_tail();
  std::string who() const;
  void close_fds();

  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1, log_fd_ = -1;
  uint64_t generation_ = 0;
  fs::path dir_;
};

Runner& runner() {
  // Never destroyed: OrtSessions in static storage may outlive any static runner. The child
  // ends when tenor's end closes its stdin; at a normal exit it is asked to quit first.
  static Runner* r = [] {
    std::atexit([] { shutdown_onnx_runtime(); });
    return new Runner;
  }();
  return *r;
}

std::string Runner::who() const {
  return "ONNX Runtime's process (node " + (dir_ / "run.js").string() + ", pid " +
         std::to_string(pid_) + ")";
}

void Runner::close_fds() {
  for (int* fd : {&to_child_, &from_child_, &log_fd_})
    if (*fd >= 0) ::close(*fd), *fd = -1;
}

std::string Runner::log_tail() {
  if (log_fd_ < 0) return "";
  const off_t size = ::lseek(log_fd_, 0, SEEK_END);
  const off_t from = std::max<off_t>(0, size - 4000);
  std::string text(size_t(size - from), '\0');
  const ssize_t n = ::pread(log_fd_, text.data(), text.size(), from);
  text.resize(n > 0 ? size_t(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return (from > 0 ? "..." : "") + text;
}

/// Waits up to `ms` for the child to end on its own; then kills it. Returns its wait status.
int reap(pid_t pid, int ms) {
  int status = 0;
  for (int waited = 0;; waited += 20) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return r == pid ? status : 0;
    if (waited >= ms) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

void Runner::stop() {
  if (pid_ > 0) {
    ::close(to_child_);  // end of input: the runner exits
    to_child_ = -1;
    reap(pid_, 2000);
  }
  close_fds();
  pid_ = -1;
}

void Runner::fail(const std::string& what, const std::string& context, const std::string& fix) {
  const std::string name = who(), log = log_tail();
  if (pid_ > 0) ::kill(pid_, SIGKILL), reap(pid_, 0);
  close_fds();
  pid_ = -1;
  throw IoError(name + " " + what + " while " + context +
                (log.empty() ? "" : " (its output: " + log + ")") + "; " + fix);
}

void Runner::fail_timeout(const Deadline& d, const std::string& context) {
  std::ostringstream limit;
  limit << d.seconds;
  fail("did not answer within " + limit.str() + " s", context,
       "it was stopped (the next call starts a new process); if the model is that slow on this "
       "machine, raise the limit with TENOR_ORT_TIMEOUT_S (seconds), else report the hang "
       "with the command that caused it");
}

void Runner::fail_ended(const std::string& context) {
  const int status = reap(pid_, 2000);
  const std::string name = who(), log = log_tail();
  close_fds();
  pid_ = -1;
  const std::string how = WIFSIGNALED(status)
                              ? "crashed: it was killed by " + signal_name(WTERMSIG(status))
                              : "exited with status " + std::to_string(WEXITSTATUS(status));
  throw IoError(name + " " + how + " while " + context +
                (log.empty() ? "" : " (its output: " + log + ")") + "; " + kCrashFix);
}

void Runner::write_all(const std::string& bytes, const Deadline& d, const std::string& context) {
  SigpipeGuard guard;
  size_t done = 0;
  while (done < bytes.size()) {
    if (d.passed()) fail_timeout(d, context);
    pollfd p{to_child_, POLLOUT, 0};
    if (::poll(&p, 1, d.remaining_ms()) <= 0) continue;
    const ssize_t n = ::write(to_child_, bytes.data() + done, bytes.size() - done);
    if (n >= 0) {
      done += size_t(n);
    } else if (errno != EINTR && errno != EAGAIN) {
      fail_ended(context);  // EPIPE: it is gone
    }
  }
}

void Runner::read_exact(char* dst, size_t n, const Deadline& d, const std::string& context) {
  while (n > 0) {
    if (d.passed()) fail_timeout(d, context);
    pollfd p{from_child_, POLLIN, 0};
    if (::poll(&p, 1, d.remaining_ms()) <= 0) continue;
    const ssize_t k = ::read(from_child_, dst, n);
    if (k == 0) fail_ended(context);
    if (k < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      fail_ended(context);
    }
    dst += k;
    n -= size_t(k);
  }
}

Frame Runner::read_frame(const Deadline& d, const std::string& context) {
  char prefix[kPrefixBytes];
  read_exact(prefix, kPrefixBytes, d, context);
  uint32_t head_len = 0;
  uint64_t payload_len = 0;
  std::memcpy(&head_len, prefix, 4);
  std::memcpy(&payload_len, prefix + 4, 8);
  if (head_len > kMaxHeaderBytes || payload_len > kMaxPayloadBytes)
    fail("sent a malformed frame (header " + std::to_string(head_len) + " bytes, payload " +
             std::to_string(payload_len) + " bytes)",
         context);
  std::string head(head_len, '\0');
  read_exact(head.data(), head_len, d, context);
  Frame f;
  f.payload.resize(payload_len);
  read_exact(f.payload.data(), payload_len, d, context);
  f.header = json::parse(head, nullptr, false);
  if (f.header.is_discarded() || !f.header.is_object() || !f.header.contains("ok"))
    fail("sent a reply that is not a protocol header: " + head.substr(0, 200), context);
  return f;
}

void Runner::spawn(const fs::path& dir) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
    throw IoError(std::string("cannot create pipes for ONNX Runtime: ") + std::strerror(errno));
  std::string log_name = (fs::temp_directory_path() / "tenor-ort-log-XXXXXX").string();
  log_fd_ = ::mkostemp(log_name.data(), O_CLOEXEC);
  if (log_fd_ >= 0) ::unlink(log_name.c_str());  // gone with the last descriptor
  const std::string script = (dir / "run.js").string();
  char* argv[] = {const_cast<char*>("node"), const_cast<char*>(script.c_str()),
                  const_cast<char*>("--serve"), nullptr};
  // posix_spawn, not fork: tenor may hold gigabytes and many threads (LibTorch).
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_adddup2(&files, in[0], 0);
  posix_spawn_file_actions_adddup2(&files, out[1], 1);
  if (log_fd_ >= 0) posix_spawn_file_actions_adddup2(&files, log_fd_, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // a terminal's Ctrl-C reaches tenor
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &files, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]);
  ::close(out[1]);
  to_child_ = in[1];
  from_child_ = out[0];
  if (rc != 0) {
    close_fds();
    if (rc == ENOENT)
      throw ExportError("`node` was not found on PATH; ONNX Runtime runs through Node.js: "
                        "install Debian's nodejs package, then " + std::string(kInstallFix));
    throw IoError(std::string("cannot start ONNX Runtime (node): ") + std::strerror(rc));
  }
  ::fcntl(to_child_, F_SETFL, ::fcntl(to_child_, F_GETFL) | O_NONBLOCK);
  pid_ = pid;
  dir_ = dir;
  ++generation_;
}

void Runner::ensure_started(const std::string& context, double timeout_s) {
  const fs::path dir = ort_dir();
  if (pid_ > 0 && dir == dir_) return;
  stop();
  if (!fs::exists(dir / "run.js"))
    throw ExportError("the ONNX Runtime runner " + (dir / "run.js").string() + " is missing; " +
                      kInstallFix);
  if (!fs::exists(dir / "node_modules/onnxruntime-node/package.json"))
    throw ExportError("onnxruntime-node is not installed in " + (dir / "node_modules").string() +
                      "; ONNX Runtime is needed: " + kInstallFix);
  spawn(dir);
  // Node and onnxruntime-node load in about a second; a busy machine gets a minute.
  const Frame hello =
      read_frame(Deadline(std::max(timeout_s, 60.0)), "starting (before " + context + ")");
  if (!hello.header.value("ok", false)) {
    const std::string error = hello.header.value("error", "no reason given");
    stop();
    throw ExportError("ONNX Runtime could not start from " + dir.string() + ": " + error + "; " +
                      kInstallFix);
  }
}

Frame Runner::call(const json& request, const std::string& payload, const std::string& context,
                   double timeout_s) {
  ensure_started(context, timeout_s);
  return exchange(request, payload, context, timeout_s);
}

Frame Runner::exchange(const json& request, const std::string& payload,
                       const std::string& context, double timeout_s) {
  const Deadline d(timeout_s);
  write_all(frame_bytes(request, payload), d, context);
  Frame reply = read_frame(d, context);
  if (!reply.header.value("ok", false))
    throw ExportError("ONNX Runtime failed " + context + ": " +
                      reply.header.value("error", std::string("no reason given")));
  return reply;
}

void Runner::load(const fs::path& model, const OrtOptions& o, OrtSession::Slot& slot) {
  const double timeout_s = timeout_of(o);
  ensure_started("loading " + model.string(), timeout_s);
  if (slot.generation == generation_) return;
  const json request = {
      {"op", "load"}, {"model", fs::absolute(model).string()}, {"threads", o.threads}};
  const Frame reply = call(request, "", "loading " + model.string(), timeout_s);
  slot = {reply.header.at("session").get<int64_t>(), generation_};
}

/// The inputs of a case as a request header and its payload.
std::pair<json, std::string> run_request(const OrtCase& c, int64_t session, const OrtOptions& o) {
  json inputs = json::object();
  std::string payload;
  for (const auto& [name, t] : c.inputs) {
    inputs[name] = {{"dtype", t.dtype}, {"dims", t.dims}, {"offset", payload.size()},
                    {"size", t.bytes.size()}};
    payload += t.bytes;
  }
  return {{{"op", "run"}, {"session", session}, {"inputs", inputs}, {"repeat", o.repeat},
           {"warmup", o.warmup}},
          std::move(payload)};
}

/// The outputs of a run reply; a reply that does not hold them is an ExportError.
OrtResult run_result(const std::string& name, const Frame& reply, const std::string& context) {
  OrtResult r;
  r.name = name;
  try {
    for (const auto& [key, spec] : reply.header.at("outputs").items()) {
      HostTensor t;
      t.dtype = spec.at("dtype");
      t.dims = spec.at("dims").get<std::vector<int64_t>>();
      const auto offset = spec.at("offset").get<size_t>(), size = spec.at("size").get<size_t>();
      if (size != size_t(t.numel()) * elem_size(t.dtype) || offset + size > reply.payload.size())
        throw ExportError("output '" + key + "' does not fit its reply");
      t.bytes = reply.payload.substr(offset, size);
      r.outputs[key] = std::move(t);
    }
    r.latency_ms = reply.header.value("latency_ms", std::vector<double>{});
    r.cpu_ms = reply.header.value("cpu_ms", std::vector<double>{});
  } catch (const json::exception& e) {
    throw ExportError("ONNX Runtime sent a malformed reply " + context + ": " + e.what());
  }
  return r;
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
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  fs::path dir = exe.parent_path();
  for (int up = 0; up <= 3 && !dir.empty(); ++up, dir = dir.parent_path()) {
    if (fs::exists(dir / "share/tenor/ort/run.js", ec)) return dir / "share/tenor/ort";
    if (dir == dir.root_path()) break;
  }
  return exe.parent_path().parent_path() / "share/tenor/ort";  // where an install puts it
}

void require_onnx_runtime() {
  Runner& r = runner();
  std::lock_guard lock(r.mutex_);
  r.ensure_started("checking ONNX Runtime", timeout_from_env());
}

int onnx_runtime_pid() {
  Runner& r = runner();
  std::lock_guard lock(r.mutex_);
  return r.pid();
}

void shutdown_onnx_runtime() {
  Runner& r = runner();
  std::unique_lock lock(r.mutex_, std::try_to_lock);
  if (!lock.owns_lock() || r.pid() <= 0) return;  // another thread is mid-call: EOF ends it
  try {
    r.exchange({{"op", "quit"}}, "", "quitting", 5);
  } catch (const Error&) {  // stop() ends it all the same
  }
  r.stop();
}

OrtSession::OrtSession(fs::path model, OrtOptions options)
    : model_(std::move(model)), options_(options) {}

OrtSession::~OrtSession() {
  Runner& r = runner();
  std::lock_guard lock(r.mutex_);
  if (slot_.generation == 0 || slot_.generation != r.generation() || r.pid() <= 0) return;
  try {
    r.exchange({{"op", "unload"}, {"session", slot_.id}}, "", "unloading " + model_.string(), 30);
  } catch (const Error&) {  // a dead runner holds no sessions
  }
}

OrtResult OrtSession::run(const OrtCase& c) {
  Runner& r = runner();
  std::lock_guard lock(r.mutex_);
  r.load(model_, options_, slot_);
  const std::string context = "running " + model_.string() + " on case '" + c.name + "'";
  auto [request, payload] = run_request(c, slot_.id, options_);
  return run_result(c.name, r.call(request, payload, context, timeout_of(options_)), context);
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
  return run_onnx_runtime(model, read_cases(cases_json), options);
}

std::vector<OrtResult> run_onnx_runtime(const fs::path& model, const std::vector<OrtCase>& cases,
                                        const OrtOptions& options) {
  OrtSession session(model, options);
  std::vector<OrtResult> results;
  results.reserve(cases.size());
  for (const auto& c : cases) results.push_back(session.run(c));
  return results;
}

}  // namespace tenor::onnx_export
