// tenor::scoring::Scorer: a product's call goes through the one path of `tenor predict`
// (scoring/call_scoring.h). The PCM samples and the transcript are written to a private
// temporary directory as the WAV and JSONL `tenor predict` would read, so that the same
// validator, channel mapping and extractor see them; the directory is removed when the call
// is scored or fails.
#include "scoring/scoring.h"

#include <cstdlib>
#include <fstream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "data/audio.h"
#include "export/bundle_predictor.h"
#include "scoring/call_scoring.h"

namespace tenor::scoring {
namespace fs = std::filesystem;
using nlohmann::json;

struct Scorer::Impl {
  fs::path bundle;
  std::unique_ptr<onnx_export::BundlePredictor> model;
  data::ChannelConvention convention;
  std::vector<TaskInfo> tasks;
  std::mutex model_lock;  ///< one model run at a time (ONNX Runtime's runner, the store check)
};

namespace {

/// A directory of this call's own under $TMPDIR (or /tmp), removed with the object. No signal
/// handlers: a product's process keeps its own.
class CallDir {
 public:
  CallDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = (fs::path(tmp && *tmp ? tmp : "/tmp") / "tenor-score-XXXXXX").string();
    if (!mkdtemp(pattern.data()))
      throw IoError("cannot create a temporary directory under " +
                    fs::path(pattern).parent_path().string() + "; set TMPDIR to a writable one");
    path_ = pattern;
  }
  ~CallDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  CallDir(const CallDir&) = delete;
  CallDir& operator=(const CallDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

/// The call's channels interleaved, refused when they differ in length.
std::vector<float> interleave(const Call& call) {
  const size_t n = call.channels.front().size();
  for (size_t c = 1; c < call.channels.size(); ++c)
    if (call.channels[c].size() != n)
      throw DataError("call " + call.call_id + ": channel " + std::to_string(c) + " holds " +
                      std::to_string(call.channels[c].size()) + " samples and channel 0 " +
                      std::to_string(n) + "; give every channel the same number of samples");
  std::vector<float> out(n * call.channels.size());
  for (size_t i = 0; i < n; ++i)
    for (size_t c = 0; c < call.channels.size(); ++c) out[i * call.channels.size() + c] = call.channels[c][i];
  return out;
}

/// The call as `tenor predict` takes it: audio.wav and transcript.jsonl in `dir`.
data::CallInput write_call(const Call& call, const fs::path& dir,
                           const data::ChannelConvention& convention) {
  data::CallInput in;
  in.call_id = call.call_id;
  in.channels = call.roles;
  in.mix = call.mix;
  in.convention = convention;
  in.window_s = call.window_s;
  in.speaker = call.speaker;
  if (!call.channels.empty()) {
    if (!(call.sample_rate_hz > 0))
      throw DataError("call " + call.call_id + ": sample_rate_hz is " +
                      std::to_string(call.sample_rate_hz) + "; give the rate of the samples");
    in.audio = dir / "audio.wav";
    data::write_audio(in.audio, interleave(call), int(call.channels.size()), call.sample_rate_hz);
  }
  if (!call.transcript.empty()) {
    in.transcript = dir / "transcript.jsonl";
    std::ofstream out(in.transcript);
    for (const auto& s : call.transcript)
      out << json{{"start", s.start_s}, {"end", s.end_s}, {"speaker", s.speaker},
                  {"text", s.text.empty() ? json() : json(s.text)}}
                 .dump()
          << "\n";
    if (!out) throw IoError("cannot write " + in.transcript.string() + " (disk full?)");
  }
  return in;
}

SegmentScore to_segment(const json& j) {
  SegmentScore s;
  s.segment = j.at("segment").get<int>();
  s.speaker = j.at("speaker").get<std::string>();
  s.start_s = j.at("start_s").get<double>();
  s.end_s = j.at("end_s").get<double>();
  for (const auto& [task, t] : j.at("tasks").items())
    s.tasks.push_back({task, t.at("probs").get<std::vector<double>>(),
                       t.at("calibrated").get<std::vector<double>>(),
                       t.at("decision").get<std::string>()});
  return s;
}

}  // namespace

Scorer::Scorer(const std::string& bundle) : impl_(std::make_unique<Impl>()) {
  impl_->bundle = bundle;
  std::error_code ec;
  if (!fs::is_directory(bundle, ec))
    throw DataError(bundle + " is not a bundle directory; give the directory `tenor export` wrote");
  impl_->model = std::make_unique<onnx_export::BundlePredictor>(bundle);
  impl_->convention = bundle_channels(bundle);
  for (const auto& t : impl_->model->tasks()) impl_->tasks.push_back({t.name, t.speaker, t.classes});
}

Scorer::~Scorer() = default;

const std::vector<TaskInfo>& Scorer::tasks() const { return impl_->tasks; }

std::vector<SegmentScore> Scorer::score(const Call& call) const {
  if (call.channels.empty() && call.transcript.empty())
    throw DataError("call " + call.call_id + " has neither samples nor a transcript; give either");
  CallDir dir;
  const data::CallInput in = write_call(call, dir.path(), impl_->convention);
  const CheckedCall checked = check_call(in, *impl_->model, CheckOptions{});
  std::vector<SegmentScore> out;
  for (const auto& j : score_call(checked, *impl_->model, &impl_->model_lock))
    out.push_back(to_segment(j));
  return out;
}

}  // namespace tenor::scoring
