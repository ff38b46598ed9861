// tenor::scoring::Scorer: a product's call goes through the one path of `tenor predict`
// (scoring/call_scoring.h). The PCM samples are read where the product holds them
// (data::PcmView, never copied) and the transcript's segments become the lines a transcript
// file would hold, so that the same validator, channel mapping and extractor see them.
#include "scoring/scoring.h"

#include <mutex>

#include <nlohmann/json.hpp>

#include "data/audio.h"
#include "export/bundle_predictor.h"
#include "scoring/call_scoring.h"
#include "scoring/call_stream.h"

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

/// The call's samples as a view (nothing copied), refused when the channels differ in length.
std::shared_ptr<const data::PcmView> pcm_view(const Call& call) {
  if (!(call.sample_rate_hz > 0))
    throw DataError("call " + call.call_id + ": sample_rate_hz is " +
                    std::to_string(call.sample_rate_hz) + "; give the rate of the samples");
  const size_t n = call.channels.front().size();
  auto pcm = std::make_shared<data::PcmView>();
  pcm->sample_rate_hz = call.sample_rate_hz;
  pcm->frames = int64_t(n);
  pcm->name = "call " + call.call_id + " (samples)";
  for (size_t c = 0; c < call.channels.size(); ++c) {
    if (call.channels[c].size() != n)
      throw DataError("call " + call.call_id + ": channel " + std::to_string(c) + " holds " +
                      std::to_string(call.channels[c].size()) + " samples and channel 0 " +
                      std::to_string(n) + "; give every channel the same number of samples");
    pcm->channels.push_back(call.channels[c].data());
  }
  return pcm;
}

/// A transcript segment as one line of a transcript file (what `tenor predict --transcript`
/// reads), so that the dataset reader and validate's checks see it.
std::string transcript_line(const Segment& s) {
  return json{{"start", s.start_s}, {"end", s.end_s}, {"speaker", s.speaker},
              {"text", s.text.empty() ? json() : json(s.text)}}
      .dump();
}

/// The call as `tenor predict` takes it, with its samples and transcript in memory.
data::CallInput call_input(const Call& call, const data::ChannelConvention& convention) {
  data::CallInput in;
  in.call_id = call.call_id;
  in.channels = call.roles;
  in.mix = call.mix;
  in.convention = convention;
  in.window_s = call.window_s;
  in.speaker = call.speaker;
  if (!call.channels.empty()) {
    in.pcm = pcm_view(call);
    in.audio = in.pcm->name;
  }
  if (!call.transcript.empty()) {
    in.transcript = "call " + call.call_id + " (transcript)";
    in.transcript_lines.emplace();
    for (const auto& s : call.transcript) in.transcript_lines->push_back(transcript_line(s));
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

struct Stream::Impl {
  std::mutex lock;  ///< one call of the stream at a time
  std::unique_ptr<CallStream> stream;
};

Stream::Stream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Stream::~Stream() = default;
Stream::Stream(Stream&&) noexcept = default;
Stream& Stream::operator=(Stream&&) noexcept = default;

namespace {

/// Provisional scores, as a stream gives them before finish().
std::vector<SegmentScore> provisional(const std::vector<json>& scores) {
  std::vector<SegmentScore> out;
  for (const auto& j : scores) {
    out.push_back(to_segment(j));
    out.back().final = false;
  }
  return out;
}

}  // namespace

std::vector<SegmentScore> Stream::push(const std::vector<const float*>& channels, size_t frames) {
  std::lock_guard<std::mutex> hold(impl_->lock);
  return provisional(impl_->stream->push(channels, frames));
}

std::vector<SegmentScore> Stream::push(const std::vector<std::vector<float>>& chunk) {
  std::vector<const float*> channels;
  for (size_t c = 0; c < chunk.size(); ++c) {
    if (chunk[c].size() != chunk[0].size())
      throw DataError("a chunk's channel " + std::to_string(c) + " holds " +
                      std::to_string(chunk[c].size()) + " samples and channel 0 " +
                      std::to_string(chunk[0].size()) + "; give every channel the same number");
    channels.push_back(chunk[c].data());
  }
  return push(channels, chunk.empty() ? 0 : chunk[0].size());
}

SegmentScore Stream::push_turn(const Segment& turn) {
  std::lock_guard<std::mutex> hold(impl_->lock);
  return provisional({impl_->stream->push_turn(turn.speaker, turn.start_s, turn.end_s, turn.text)})
      .at(0);
}

std::vector<SegmentScore> Stream::finish() {
  std::lock_guard<std::mutex> hold(impl_->lock);
  std::vector<SegmentScore> out;
  for (const auto& j : impl_->stream->finish()) out.push_back(to_segment(j));
  return out;
}

double Stream::pushed_s() const {
  std::lock_guard<std::mutex> hold(impl_->lock);
  return impl_->stream->pushed_s();
}

int64_t Stream::held_frames() const {
  std::lock_guard<std::mutex> hold(impl_->lock);
  return impl_->stream->held_frames();
}

Stream Scorer::open_stream(const StreamOptions& options) const {
  StreamSetup setup;
  setup.call_id = options.call_id;
  setup.sample_rate_hz = options.sample_rate_hz;
  setup.channels = options.channels;
  setup.roles = options.roles;
  setup.mix = options.mix;
  setup.convention = impl_->convention;
  setup.max_turn_s = options.max_turn_s;
  setup.windows = options.windows;
  setup.window_s = options.window_s;
  setup.speaker = options.speaker;
  auto impl = std::make_unique<Stream::Impl>();
  impl->stream = std::make_unique<CallStream>(*impl_->model, &impl_->model_lock, setup);
  return Stream(std::move(impl));
}

std::vector<SegmentScore> Scorer::score(const Call& call) const {
  if (call.channels.empty() && call.transcript.empty())
    throw DataError("call " + call.call_id + " has neither samples nor a transcript; give either");
  const data::CallInput in = call_input(call, impl_->convention);
  const CheckedCall checked = check_call(in, *impl_->model, CheckOptions{});
  std::vector<SegmentScore> out;
  for (const auto& j : score_call(checked, *impl_->model, &impl_->model_lock))
    out.push_back(to_segment(j));
  return out;
}

}  // namespace tenor::scoring
