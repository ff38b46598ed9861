#include "data/features/build.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "core/file_lock.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "core/torch_compat.h"
#include "core/version.h"
#include "data/audio.h"
#include "data/call_input.h"
#include "data/dataset.h"
#include "data/features/device.h"
#include "data/features/lld.h"
#include "data/features/speech_encoder.h"
#include "data/features/store.h"
#include "data/features/store_channels.h"
#include "data/validate.h"

namespace tenor::features {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr char kPartMagic[8] = {'T', 'N', 'R', 'P', 'A', 'R', 'T', '4'};
constexpr size_t kDigestChars = 64;  ///< the SHA-256 (hex) that ends every part file

/// One segment's extracted features, as kept in a part file.
struct SegmentFeatures {
  StoreSegment meta;
  std::vector<float> functionals;
  std::vector<uint8_t> mask;
  std::vector<float> frames;  ///< [T * F_lld]
  std::vector<int32_t> tokens;
};

struct Part {
  std::vector<SegmentFeatures> segments;
  std::vector<std::string> skipped;      ///< "call_id: reason"
  std::vector<std::string> skipped_ids;  ///< the same calls' ids
  double audio_seconds = 0;
};

std::string part_name(size_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "part-%05zu.bin", index);
  return buf;
}

/// Writes bytes and feeds them to a SHA-256 at once, so a part's checksum covers exactly
/// what reached the file.
class HashingWriter {
 public:
  explicit HashingWriter(std::ostream& out) : out_(out) {}
  void put(const void* data, size_t bytes) {
    std::string_view view(static_cast<const char*>(data), bytes);
    out_.write(view.data(), static_cast<std::streamsize>(view.size()));
    sha_.update(view);
  }
  template <class T>
  void put(const std::vector<T>& v) {
    put(v.data(), v.size() * sizeof(T));
  }
  std::string hex() { return sha_.hex(); }

 private:
  std::ostream& out_;
  Sha256 sha_;
};

template <class T>
void read_vec(std::istream& in, std::vector<T>& v, size_t n) {
  v.resize(n);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(T)));
}

/// Part file: magic, u64 header length, JSON header (the part's `work`, see part_work, and the
/// segment table), per segment the functionals, mask, frames and tokens back to back, and last
/// the SHA-256 (hex) of everything before it. Written atomically.
void write_part(const fs::path& path, const Part& part, const json& work) {
  json header = {{"work", work},
                 {"skipped", part.skipped},
                 {"skipped_ids", part.skipped_ids},
                 {"audio_seconds", part.audio_seconds}};
  json segs = json::array();
  for (const auto& s : part.segments) {
    segs.push_back({{"call_id", s.meta.call_id},
                    {"segment", s.meta.segment},
                    {"speaker", s.meta.speaker},
                    {"split", s.meta.split},
                    {"start", s.meta.start_s},
                    {"end", s.meta.end_s},
                    {"labels", s.meta.labels},
                    {"meta", s.meta.meta},
                    {"text", s.meta.text},
                    {"audio",
                     {s.meta.audio.path, s.meta.audio.channel, s.meta.audio.bytes,
                      s.meta.audio.sha256}},
                    {"nf", s.functionals.size()},
                    {"frames", s.frames.size()},
                    {"tokens", s.tokens.size()}});
  }
  header["segments"] = std::move(segs);
  std::string text = header.dump(-1, ' ', false, json::error_handler_t::replace);
  AtomicFile file(path);
  HashingWriter out(file.stream());
  out.put(kPartMagic, 8);
  const uint64_t len = text.size();
  out.put(&len, 8);
  out.put(text.data(), text.size());
  for (const auto& s : part.segments) {
    out.put(s.functionals);
    out.put(s.mask);
    out.put(s.frames);
    out.put(s.tokens);
  }
  file.stream() << out.hex();
  file.commit();
}

/// Checks a part file against the SHA-256 it ends with; throws DataError naming it when it is
/// truncated or any byte changed since it was written.
void verify_part(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw DataError(path.string() + " is not a file");
  const uintmax_t size = fs::file_size(path, ec);
  if (ec || size < 16 + kDigestChars)
    throw DataError(path.string() + " is truncated (" + std::to_string(ec ? 0 : size) + " bytes)");
  std::ifstream in(path, std::ios::binary);
  Sha256 sha;
  std::vector<char> block(size_t{1} << 20);
  for (uintmax_t left = size - kDigestChars; left > 0;) {
    const size_t n = size_t(std::min<uintmax_t>(left, block.size()));
    if (!in.read(block.data(), std::streamsize(n)))
      throw IoError("cannot read " + path.string());
    sha.update(std::string_view(block.data(), n));
    left -= n;
  }
  std::string digest(kDigestChars, '\0');
  in.read(digest.data(), std::streamsize(kDigestChars));
  if (!in || digest != sha.hex())
    throw DataError(path.string() + " does not match its checksum (damaged since it was written)");
}

json read_part_header(std::istream& in, const fs::path& path) {
  char magic[8];
  uint64_t len = 0;
  if (!in.read(magic, 8) || std::memcmp(magic, kPartMagic, 8) != 0 ||
      !in.read(reinterpret_cast<char*>(&len), 8) || len > (uint64_t{1} << 32))
    throw DataError(path.string() + " is not a part of this tenor version's builds");
  std::string text(len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(len));
  json header = json::parse(text, nullptr, false);
  if (!in || header.is_discarded() || !header.is_object())
    throw DataError(path.string() + " has a damaged header");
  return header;
}

Part read_part(const fs::path& path) {
  verify_part(path);
  std::ifstream in(path, std::ios::binary);
  const json header = read_part_header(in, path);
  Part part;
  try {
    part.skipped = header.at("skipped").get<std::vector<std::string>>();
    part.skipped_ids = header.at("skipped_ids").get<std::vector<std::string>>();
    part.audio_seconds = header.at("audio_seconds").get<double>();
    for (const auto& h : header.at("segments")) {
      SegmentFeatures s;
      s.meta = {h.at("call_id"),
                h.at("segment"),
                h.at("speaker"),
                h.at("split"),
                h.at("start"),
                h.at("end"),
                h.at("labels").get<std::vector<int32_t>>(),
                h.at("meta").get<std::string>(),
                h.at("text").get<std::string>()};
      const json& a = h.at("audio");
      s.meta.audio = {a.at(0), a.at(1), a.at(2), a.at(3)};
      read_vec(in, s.functionals, h.at("nf").get<size_t>());
      read_vec(in, s.mask, h.at("nf").get<size_t>());
      read_vec(in, s.frames, h.at("frames").get<size_t>());
      read_vec(in, s.tokens, h.at("tokens").get<size_t>());
      part.segments.push_back(std::move(s));
    }
  } catch (const json::exception& e) {
    throw DataError(path.string() + " has a damaged header: " + e.what());
  }
  if (!in) throw DataError(path.string() + " is truncated");
  return part;
}

/// What part `[first, end)` of a build is: the dataset and extractor configuration (as
/// state.json records them), the tokenizer, and the exact calls in order with the size and
/// modification time of their audio. A part is reused only when the work it records equals
/// this and its checksum matches, so a resumed build never stores a call twice or leaves one
/// out (another --calls-per-part), nor reuses features of audio replaced since.
json part_work(const data::Dataset& ds, size_t first, size_t end, const json& state,
               const std::string& tokenizer_sha256) {
  json calls = json::array();
  for (size_t c = first; c < end; ++c) {
    const data::Call& call = ds.calls[c];
    json entry = {{"call_id", call.call_id}, {"audio", call.audio}};
    if (!call.audio.empty()) {
      std::error_code ec;
      const fs::path audio = ds.root / call.audio;
      const uintmax_t bytes = fs::file_size(audio, ec);
      entry["audio_bytes"] = ec ? 0 : bytes;
      const auto mtime = fs::last_write_time(audio, ec);
      entry["audio_mtime"] = ec ? 0 : int64_t(mtime.time_since_epoch().count());
    }
    calls.push_back(std::move(entry));
  }
  return {{"dataset_fingerprint", state.at("dataset_fingerprint")},
          {"config_sha256", sha256_hex(state.at("config").dump())},
          {"tool_version", state.at("tool_version")},
          {"tokenizer_sha256", tokenizer_sha256},
          {"calls", std::move(calls)}};
}

std::vector<std::string> call_ids(const json& work) {
  std::vector<std::string> ids;
  for (const auto& c : work.at("calls")) ids.push_back(c.at("call_id").get<std::string>());
  return ids;
}

std::string describe_calls(const std::vector<std::string>& ids) {
  if (ids.empty()) return "no calls";
  return std::to_string(ids.size()) + " call(s) " + ids.front() +
         (ids.size() > 1 ? ".." + ids.back() : "");
}

/// Why a part recording `recorded` cannot stand for `expected`, in words.
std::string why_not_reused(const json& recorded, const json& expected) {
  const auto have = call_ids(recorded), want = call_ids(expected);
  if (have != want)
    return "it holds " + describe_calls(have) + " but this run puts " + describe_calls(want) +
           " in it (another --calls-per-part, or calls added or removed)";
  if (recorded.at("calls") != expected.at("calls"))
    for (size_t i = 0; i < have.size(); ++i)
      if (recorded["calls"][i] != expected["calls"][i])
        return "the audio of call " + have[i] + " changed since it was built";
  if (recorded.value("tokenizer_sha256", "") != expected.value("tokenizer_sha256", ""))
    return "its tokens come from another tokenizer";
  return "it was built from another dataset or configuration";
}

json config_json(const BuildOptions& o, int rate) {
  const auto& l = o.lld;
  json j = {{"feature_set_version", kFeatureSetVersion},
            {"functionals_version", kFunctionalsVersion},
            {"lld",
             {{"sample_rate_hz", rate},
              {"frame_shift_ms", l.frame_shift_ms},
              {"f0_floor_hz", l.f0_floor_hz},
              {"f0_ceiling_hz", l.f0_ceiling_hz},
              {"periods_per_window", l.periods_per_window},
              {"max_candidates", l.max_candidates},
              {"silence_threshold", l.silence_threshold},
              {"voicing_threshold", l.voicing_threshold},
              {"octave_cost", l.octave_cost},
              {"octave_jump_cost", l.octave_jump_cost},
              {"voiced_unvoiced_cost", l.voiced_unvoiced_cost},
              {"spectral_window_ms", l.spectral_window_ms},
              {"mel_bands", l.mel_bands},
              {"mel_low_hz", l.mel_low_hz},
              {"mel_high_hz", l.mel_high_hz},
              {"mfcc_count", l.mfcc_count}}},
            {"functionals",
             {{"pause_min_ms", o.functionals.pause_min_ms},
              {"pause_below_peak_db", o.functionals.pause_below_peak_db},
              {"nucleus_dip_db", o.functionals.nucleus_dip_db}}},
            {"tokenizer",
             {{"vocab_size", o.tokenizer.vocab_size}, {"model_type", o.tokenizer.model_type}}}};
  if (!o.speech_encoder.empty())
    j["speech_encoder"] = {{"name", o.speech_encoder},
                           {"sha256", o.speech_encoder_sha256},
                           {"width", o.speech_encoder_width},
                           {"window", o.speech_window},
                           {"pooling", o.speech_window == "clip"
                                           ? "mean of the final states over the segment's "
                                             "frames, in windows of at most 30 s run alone"
                                           : "mean of the final states over the segment's "
                                             "frames, in 30 s windows padded with silence"}};
  return j;
}

template <class T>
T config_value(const json& j, const char* section, const char* key) {
  try {
    return j.at(section).at(key).get<T>();
  } catch (const json::exception&) {
    throw DataError(std::string("the extractor configuration has no valid ") + section + "." + key +
                    "; the store or bundle was written by another tenor version, rebuild it");
  }
}

/// Extracts one part: reads each segment's audio (its speaker's channel), runs the
/// LLD extractor in padded batches of similar length, then computes functionals,
/// baseline-relative features, tokens and labels per segment.
class PartBuilder {
 public:
  /// `rejected`: calls (by index) that failed the audio checks, skipped with that reason.
  /// `speech`: the speech encoder of `o` (load_speech_encoder), nullptr without one.
  PartBuilder(const data::Dataset& ds, const BuildOptions& o, LldConfig lld, c10::Device device,
              const Tokenizer* tokenizer, const SpeechStates* speech,
              std::map<size_t, std::string> rejected = {})
      : ds_(ds),
        o_(o),
        lld_(std::move(lld)),
        device_(device),
        tokenizer_(tokenizer),
        speech_(speech),
        rejected_(std::move(rejected)),
        extract_(lld_) {
    layout_.columns = lld_column_names(lld_);
    names_ = functional_names(layout_);
  }

  const std::vector<std::string>& functional_columns() const { return names_; }
  std::vector<std::string> all_functional_columns() const {
    auto all = names_;
    for (auto& c : speech_columns(o_.speech_encoder_width)) all.push_back(std::move(c.name));
    for (const auto& n : relative_names()) all.push_back(n);
    return all;
  }
  const std::vector<std::string>& lld_columns() const { return layout_.columns; }

  struct Job {
    size_t call, segment;
    std::vector<float> samples;
  };

  Part build(size_t first_call, size_t end_call) {
    Part part;
    std::vector<Job> jobs;
    std::vector<size_t> calls;
    for (size_t c = first_call; c < end_call; ++c) {
      if (auto r = rejected_.find(c); r != rejected_.end()) {
        part.skipped.push_back(ds_.calls[c].call_id + ": " + r->second);
        part.skipped_ids.push_back(ds_.calls[c].call_id);
        continue;
      }
      std::vector<Job> call_jobs;
      try {
        call_jobs = read_jobs(c, all_segments(c), part.audio_seconds);
      } catch (const Error& e) {
        const data::Call& call = ds_.calls[c];
        if (!o_.keep_going)
          throw DataError("call " + call.call_id + " (" + ds_.source + ":" +
                          std::to_string(call.line) + "): " + e.what() +
                          "; fix it, or pass --keep-going to skip such calls");
        part.skipped.push_back(call.call_id + ": " + e.what());
        part.skipped_ids.push_back(call.call_id);
        continue;
      }
      calls.push_back(c);
      for (auto& j : call_jobs) jobs.push_back(std::move(j));
    }
    auto tables = lld_tables(jobs);
    auto speech = speech_states(jobs);
    jobs.clear();
    for (size_t c : calls) add_call(c, tables, speech, part);
    return part;
  }

  using SpeechValues = std::map<std::pair<size_t, size_t>, std::vector<float>>;

  /// The pooled speech-encoder states of every job with samples (none without an encoder).
  SpeechValues speech_states(const std::vector<Job>& jobs) const {
    SpeechValues out;
    if (!speech_) return out;
    std::vector<const float*> clips;
    std::vector<int64_t> samples;
    for (const auto& j : jobs) {
      clips.push_back(j.samples.data());
      samples.push_back(int64_t(j.samples.size()));
    }
    auto states = (*speech_)(clips, samples);
    for (size_t i = 0; i < jobs.size(); ++i)
      if (!states[i].empty()) out[{jobs[i].call, jobs[i].segment}] = std::move(states[i]);
    return out;
  }

  size_t segment_count(size_t c) const { return ds_.calls[c].segments.size(); }

  /// Segments 0..n-1 of call c.
  std::vector<size_t> all_segments(size_t c) const {
    std::vector<size_t> segs(ds_.calls[c].segments.size());
    for (size_t s = 0; s < segs.size(); ++s) segs[s] = s;
    return segs;
  }

  /// The audio of segments `segs` of call c, each from its speaker's channel, at the analysis
  /// rate; adds their duration to `audio_seconds`. Throws DataError (unreadable audio).
  std::vector<Job> read_jobs(size_t c, const std::vector<size_t>& segs, double& audio_seconds) {
    const data::Call& call = ds_.calls[c];
    std::vector<Job> jobs;
    if (call.audio.empty()) return jobs;
    data::AudioReader reader = call.pcm ? data::AudioReader(*call.pcm)
                                        : data::AudioReader(ds_.root / call.audio);
    for (size_t s : segs) {
      const auto& seg = call.segments[s];
      auto it = call.channels.find(seg.speaker);
      int channel = it == call.channels.end() ? -1 : it->second;
      if (channel >= reader.info().channels)
        throw DataError("channel " + std::to_string(channel) + " of role '" + seg.speaker +
                        "' does not exist in " + call.audio);
      jobs.push_back({c, s, reader.read(seg.start_s, seg.end_s, channel, lld_.sample_rate_hz)});
      audio_seconds += seg.duration_s();
    }
    return jobs;
  }

  /// LLDs of every job, in padded batches of similar length (less padding).
  std::map<std::pair<size_t, size_t>, LldTable> lld_tables(const std::vector<Job>& jobs) {
    std::vector<size_t> order(jobs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return jobs[a].samples.size() < jobs[b].samples.size();
    });
    std::map<std::pair<size_t, size_t>, LldTable> tables;
    for (size_t i = 0; i < order.size();) {
      size_t j = i + 1;
      while (j < order.size() && int64_t(jobs[order[j]].samples.size()) * int64_t(j - i + 1) <=
                                     std::max<int64_t>(o_.batch_samples, 1))
        ++j;
      const Job& first = jobs[order[i]];
      if (j == i + 1 && device_.is_cpu() && int64_t(first.samples.size()) > o_.batch_samples)
        tables[{first.call, first.segment}] = stream_job(first);
      else
        run_batch(jobs, order, i, j, tables);
      i = j;
    }
    return tables;
  }

  /// Segment s of call c without its relative-to-baseline features: functionals of its LLDs
  /// (`table`; none without audio), its speech-encoder states (`speech`, from speech_states;
  /// 0 with mask 0 without), the frames, tokens and the row's metadata.
  SegmentFeatures own_features(size_t c, size_t s, LldTable* table,
                               const SpeechValues* speech = nullptr) const {
    const data::Call& call = ds_.calls[c];
    const data::Segment& seg = call.segments[s];
    std::vector<Turn> turns;
    for (const auto& other : call.segments)
      turns.push_back({other.speaker, other.start_s, other.end_s});
    const SegmentInfo info =
        segment_info({seg.speaker, seg.start_s, seg.end_s}, turns, seg.text);
    SegmentFeatures f;
    LldTable empty;
    empty.columns = layout_.columns;
    const LldTable& t = table ? *table : empty;
    segment_functionals(t, info, o_.functionals, f.functionals, f.mask);
    const size_t width = size_t(o_.speech_encoder_width);
    const auto states = speech ? speech->find({c, s}) : SpeechValues::const_iterator();
    if (speech && states != speech->end() && states->second.size() == width) {
      f.functionals.insert(f.functionals.end(), states->second.begin(), states->second.end());
      f.mask.insert(f.mask.end(), width, 1);
    } else {
      f.functionals.insert(f.functionals.end(), width, 0.0f);
      f.mask.insert(f.mask.end(), width, 0);
    }
    if (table) f.frames = std::move(table->values);
    if (tokenizer_ && seg.text) f.tokens = tokenizer_->encode(*seg.text);
    f.meta = {call.call_id, int32_t(s),
              seg.speaker,  call.split,
              seg.start_s,  seg.end_s,
              {},           json(call.meta).dump(-1, ' ', false, json::error_handler_t::replace),
              seg.text.value_or("")};
    for (const auto& task : ds_.schema.tasks)
      f.meta.labels.push_back(data::resolved_label(seg, task).value_or(-1));
    if (!call.audio.empty()) {
      auto it = call.channels.find(seg.speaker);
      f.meta.audio.path = call.audio;
      f.meta.audio.channel = it == call.channels.end() ? -1 : it->second;
    }
    return f;
  }

  /// Appends to `target` (segment s of call c) its features relative to the same speaker's
  /// earlier segments in the call (by start time); `own(e)` gives segment e's own functionals
  /// and mask (their first functional_columns().size() entries are read).
  void add_relative(size_t c, size_t s,
                    const std::function<const SegmentFeatures&(size_t)>& own,
                    SegmentFeatures& target) const {
    const data::Call& call = ds_.calls[c];
    std::vector<std::vector<float>> ev;
    std::vector<std::vector<uint8_t>> em;
    for (size_t e = 0; e < call.segments.size(); ++e) {
      if (call.segments[e].speaker != call.segments[s].speaker ||
          !(call.segments[e].start_s < call.segments[s].start_s))
        continue;
      const SegmentFeatures& f = own(e);
      ev.emplace_back(f.functionals.begin(), f.functionals.begin() + long(names_.size()));
      em.emplace_back(f.mask.begin(), f.mask.begin() + long(names_.size()));
    }
    std::vector<const std::vector<float>*> pv;
    std::vector<const std::vector<uint8_t>*> pm;
    for (size_t k = 0; k < ev.size(); ++k) pv.push_back(&ev[k]), pm.push_back(&em[k]);
    append_relative_to_baseline(names_, pv, pm, target.functionals, target.mask);
  }

 private:
  /// LLDs of one segment longer than a batch, on the CPU, by LldStream: the batch
  /// extractor's buffers grow with the length (about 4 GB per hour of audio), the stream's do
  /// not, and its values are those of a batch of one (tests/features/stream_test.cpp).
  LldTable stream_job(const Job& job) const {
    const int64_t n = int64_t(job.samples.size());
    WaveformStats stats;
    stats.add(job.samples.data(), n);
    LldStream stream(lld_, stats);
    LldTable t;
    t.columns = layout_.columns;
    auto take = [&](const at::Tensor& rows) {
      auto r = rows.contiguous();
      t.values.insert(t.values.end(), r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
    };
    constexpr int64_t kBlock = int64_t{1} << 16;
    for (int64_t from = 0; from < n; from += kBlock)
      take(stream.push(job.samples.data() + from, std::min(kBlock, n - from)));
    take(stream.finish());
    for (int64_t i = 0; i < stream.frames_out(); ++i) t.time_s.push_back(lld_frame_time_s(i, lld_));
    if (stream.forced_decisions() > 0)
      logger("data")->warn(
          "call {} segment {}: the F0 path was decided {} time(s) before its candidates merged "
          "(minutes without a pause); those frames may differ slightly from a batch analysis",
          ds_.calls[job.call].call_id, job.segment, stream.forced_decisions());
    return t;
  }

  void run_batch(const std::vector<Job>& jobs, const std::vector<size_t>& order, size_t from,
                 size_t to, std::map<std::pair<size_t, size_t>, LldTable>& tables) {
    const int64_t b = int64_t(to - from);
    int64_t longest = 1;
    for (size_t k = from; k < to; ++k)
      longest = std::max<int64_t>(longest, int64_t(jobs[order[k]].samples.size()));
    auto wave = at::zeros({b, longest}, at::TensorOptions().dtype(at::kFloat));
    auto lengths = at::zeros({b}, at::TensorOptions().dtype(at::kLong));
    auto wave_a = wave.accessor<float, 2>();
    for (size_t k = from; k < to; ++k) {
      const auto& s = jobs[order[k]].samples;
      std::copy(s.begin(), s.end(), &wave_a[int64_t(k - from)][0]);
      lengths[int64_t(k - from)] = int64_t(s.size());
    }
    auto out = extract_(wave.to(device_), lengths.to(device_));
    auto lld = out.lld.to(at::kCPU).contiguous();
    const int64_t f = lld.size(2);
    for (size_t k = from; k < to; ++k) {
      LldTable t;
      t.columns = layout_.columns;
      const int64_t frames = lld_frame_count(int64_t(jobs[order[k]].samples.size()), lld_);
      const float* row = lld.data_ptr<float>() + int64_t(k - from) * lld.size(1) * f;
      t.values.assign(row, row + frames * f);
      for (int64_t i = 0; i < frames; ++i) t.time_s.push_back(lld_frame_time_s(i, lld_));
      tables[{jobs[order[k]].call, jobs[order[k]].segment}] = std::move(t);
    }
  }

  /// Call c's segments into `part`, each with its audio file's size and SHA-256 (what
  /// waveform augmentation checks before it reads the file again).
  void add_call(size_t c, std::map<std::pair<size_t, size_t>, LldTable>& tables,
                const SpeechValues& speech, Part& part) {
    const size_t first = part.segments.size(), n = ds_.calls[c].segments.size();
    AudioSource audio;
    if (const std::string& file = ds_.calls[c].audio; !file.empty()) {
      std::error_code ec;
      const uintmax_t bytes = fs::file_size(ds_.root / file, ec);
      audio.bytes = ec ? -1 : int64_t(bytes);
      audio.sha256 = Sha256().update_file(ds_.root / file).hex();
    }
    for (size_t s = 0; s < n; ++s) {
      auto it = tables.find({c, s});
      part.segments.push_back(
          own_features(c, s, it == tables.end() ? nullptr : &it->second, &speech));
      part.segments.back().meta.audio.bytes = audio.bytes;
      part.segments.back().meta.audio.sha256 = audio.sha256;
    }
    for (size_t s = 0; s < n; ++s)
      add_relative(
          c, s, [&](size_t e) -> const SegmentFeatures& { return part.segments[first + e]; },
          part.segments[first + s]);
  }

  const data::Dataset& ds_;
  const BuildOptions& o_;
  LldConfig lld_;
  c10::Device device_;
  const Tokenizer* tokenizer_;
  const SpeechStates* speech_;
  std::map<size_t, std::string> rejected_;
  LldExtractor extract_;
  LldTable layout_;
  std::vector<std::string> names_;
};

/// Validate's audio checks (data::check_dataset_audio) on every call before any extraction, so
/// that a truncated or empty file or a segment past its audio never becomes segments without
/// frames that keep their labels. Without keep_going any error stops the build, listing them
/// all; with it, returns the calls (by index) to skip, each with its reasons.
std::map<size_t, std::string> check_audio(const data::Dataset& ds, const fs::path& dataset_dir,
                                          const BuildOptions& o,
                                          data::ChannelConvention* convention = nullptr) {
  data::Diagnostics diag;
  const auto scans = data::check_dataset_audio(ds, o.threads, diag);
  if (convention) *convention = data::channel_convention(ds, scans);
  if (diag.error_count() == 0) return {};
  diag.sort();
  std::map<std::string, size_t> index;
  for (size_t c = 0; c < ds.calls.size(); ++c) index.emplace(ds.calls[c].call_id, c);
  std::map<size_t, std::string> rejected;
  std::map<std::string, std::string> bad_files;  // audio path -> its file-level problem
  std::string listing;
  for (const auto& f : diag.findings()) {
    if (f.severity != data::Severity::kError) continue;
    listing += "\n  " + data::format_finding(f);
    auto it = index.find(f.call_id);
    if (it == index.end()) continue;
    const std::string why = f.file + ":" + std::to_string(f.line) + ": " +
                            (f.segment >= 0 ? "segment " + std::to_string(f.segment) + ": " : "") +
                            f.message;
    std::string& reason = rejected[it->second];
    reason += (reason.empty() ? "" : "; ") + why;
    if (f.segment < 0) bad_files.emplace(ds.calls[it->second].audio, why);
  }
  // validate reports a file's problem (truncated, no samples) once, on the first call using it;
  // every other call on that file is rejected with it.
  for (size_t c = 0; c < ds.calls.size(); ++c) {
    auto bad = bad_files.find(ds.calls[c].audio);
    if (bad != bad_files.end() && !rejected.count(c)) rejected[c] = bad->second;
  }
  if (!o.keep_going)
    throw DataError(dataset_dir.string() + ": " + std::to_string(rejected.size()) +
                    " call(s) fail the audio checks of `tenor data validate`; their segments "
                    "would get missing or wrong frames:" +
                    listing +
                    "\nfix the audio or the segment times, or pass --keep-going to skip these "
                    "calls");
  return rejected;
}

/// Opens the parts directory of a build: a new one records `state` (dataset fingerprint,
/// extractor configuration, tenor version) in state.json; an interrupted one is resumed only
/// when its state.json records the same, else DataError says what differs and to pass
/// --restart. Returns the state as recorded (with the tokenizer's SHA-256 once trained).
json open_parts(const fs::path& parts, const json& state, bool restart) {
  std::error_code ec;
  if (restart) {
    fs::remove_all(parts, ec);
    if (ec) throw IoError("cannot remove " + parts.string() + ": " + ec.message());
  }
  if (fs::exists(parts / "state.json", ec)) {
    const json previous = json::parse(read_file(parts / "state.json"), nullptr, false);
    std::string differs;
    if (!previous.is_object())
      differs = "has a damaged state.json";
    else if (previous.value("dataset_fingerprint", json()) != state["dataset_fingerprint"])
      differs = "was started on another dataset (dataset.yaml or the manifest changed since)";
    else if (previous.value("config", json()) != state["config"])
      differs = "was started with another extractor configuration";
    else if (previous.value("splits", json()) != state.value("splits", json()))
      differs = "extracted the calls of other splits";
    else if (previous.value("tool_version", json()) != state["tool_version"])
      differs = "was started by tenor " + previous.value("tool_version", json()).dump();
    if (!differs.empty())
      throw DataError("the interrupted build in " + parts.string() + " " + differs +
                      "; pass --restart to discard it and build from the start");
    logger("data")->info("resuming the interrupted build in {}", parts.string());
    return previous;
  }
  fs::create_directories(parts, ec);
  if (ec) throw IoError("cannot create " + parts.string() + ": " + ec.message());
  write_file_atomic(parts / "state.json", state.dump(2));
  return state;
}

/// The SentencePiece model of --tokenizer: a .model file, a bundle directory, or a store.
std::string tokenizer_from(const fs::path& from) {
  std::error_code ec;
  const fs::path file = fs::is_directory(from, ec) ? from / "tokenizer.model" : from;
  if (!fs::exists(file, ec))
    throw DataError("--tokenizer " + from.string() + ": " + file.string() +
                    " does not exist; give a SentencePiece .model file, a bundle directory or "
                    "a feature store (.h5)");
  std::string model = file.extension() == ".h5" ? read_store_tokenizer(file) : read_file(file);
  if (model.empty())
    throw DataError("--tokenizer " + from.string() + " holds no tokenizer (a store built from "
                    "calls without text); give one that has a SentencePiece model");
  try {
    Tokenizer check(model);
  } catch (const DataError& e) {
    throw DataError("--tokenizer " + from.string() + ": " + file.string() +
                    " is not a SentencePiece model (" + e.what() +
                    "); give a bundle's tokenizer.model or the store a model was trained on");
  }
  return model;
}

/// The build's tokenizer: the one an interrupted build trained, when state.json vouches for its
/// SHA-256; else trained on the training split's transcripts only (all calls when no call is
/// in train), so no test text shapes the vocabulary, and recorded in `state`.
std::string build_tokenizer(const fs::path& parts, const data::Dataset& ds, const BuildOptions& o,
                            json& state) {
  auto log = logger("data");
  std::error_code ec;
  if (o.tokenizer_model || !o.tokenizer_from.empty()) {
    std::string model = o.tokenizer_model ? *o.tokenizer_model : tokenizer_from(o.tokenizer_from);
    log->info("tokenizing with the SentencePiece model of {} (sha256 {})",
              o.tokenizer_model ? std::string("the given model") : o.tokenizer_from.string(),
              sha256_hex(model).substr(0, 12));
    write_file_atomic(parts / "tokenizer.model", model);
    state["tokenizer_sha256"] = sha256_hex(model);  // parts of another tokenizer are rebuilt
    write_file_atomic(parts / "state.json", state.dump(2));
    return model;
  }
  if (state.contains("tokenizer_sha256") && fs::exists(parts / "tokenizer.model", ec)) {
    std::string model = read_file(parts / "tokenizer.model");
    if (sha256_hex(model) == state["tokenizer_sha256"]) return model;
    log->warn("{} does not match its checksum; training the tokenizer again",
              (parts / "tokenizer.model").string());
  }
  std::vector<std::string> texts;
  bool any_train = std::any_of(ds.calls.begin(), ds.calls.end(),
                               [](const auto& c) { return c.split == "train"; });
  for (const auto& c : ds.calls)
    if (!any_train || c.split == "train")
      for (const auto& s : c.segments)
        if (s.text && !s.text->empty()) texts.push_back(*s.text);
  std::string model;
  if (!texts.empty()) model = train_tokenizer(texts, o.tokenizer);
  if (!any_train && !texts.empty())
    log->warn(
        "no call is in split 'train': the tokenizer is trained on every transcript (run `tenor "
        "data split` first)");
  write_file_atomic(parts / "tokenizer.model", model);
  state["tokenizer_sha256"] = sha256_hex(model);
  write_file_atomic(parts / "state.json", state.dump(2));
  return model;
}

/// Whether `file` can stand for a part doing `work`: it exists, matches its checksum and
/// records exactly this work. Otherwise `why` says what is wrong ("" when it is absent).
bool reusable_part(const fs::path& file, const json& work, std::string& why) {
  why.clear();
  std::error_code ec;
  if (!fs::exists(file, ec)) return false;
  try {
    std::ifstream in(file, std::ios::binary);
    const json header = read_part_header(in, file);
    const json recorded = header.value("work", json::object());
    if (recorded == work) {
      verify_part(file);  // the whole file is hashed only for a part that would be reused
      return true;
    }
    why = file.string() + " is not reused: " +
          (recorded.contains("calls") ? why_not_reused(recorded, work)
                                      : std::string("it was built by another tenor"));
  } catch (const Error& e) {
    why = e.what();
  } catch (const json::exception& e) {
    why = file.string() + " has a damaged header (" + e.what() + ")";
  }
  return false;
}

/// Extracts every part of the build in `parts`; a part of an interrupted build is reused only
/// when reusable_part says so, any other is built (again). Returns the number reused.
size_t extract_parts(const fs::path& parts, const data::Dataset& ds, const BuildOptions& o,
                     const json& state, const std::string& tokenizer_sha256,
                     PartBuilder& builder) {
  auto log = logger("data");
  const size_t per = static_cast<size_t>(o.calls_per_part);
  const size_t n_parts = (ds.calls.size() + per - 1) / per;
  Progress progress("features", "calls", int64_t(ds.calls.size()), o.progress);
  size_t reused = 0, redone = 0;
  for (size_t p = 0; p < n_parts; ++p) {
    const size_t first = p * per, end = std::min(ds.calls.size(), first + per);
    const fs::path file = parts / part_name(p);
    const json work = part_work(ds, first, end, state, tokenizer_sha256);
    std::string why;
    if (reusable_part(file, work, why)) {
      ++reused;
    } else {
      if (!why.empty() && ++redone <= 3) log->warn("{}; building it again", why);
      write_part(file, builder.build(first, end), work);
    }
    progress.update(int64_t(end));
  }
  progress.finish();
  if (redone > 3) log->warn("{} parts of the interrupted build were built again", redone);
  return reused;
}

/// The last guard against a call stored twice or not at all: a part's rows must be exactly
/// the segments of its calls `[first, end)`, in order, less the calls it skipped.
void check_part_rows(const Part& part, const data::Dataset& ds, size_t first, size_t end,
                     const fs::path& file) {
  std::vector<std::pair<std::string, int32_t>> want, have;
  size_t k = 0;
  for (size_t c = first; c < end; ++c) {
    const data::Call& call = ds.calls[c];
    if (k < part.skipped_ids.size() && part.skipped_ids[k] == call.call_id) {
      ++k;
      continue;
    }
    for (size_t s = 0; s < call.segments.size(); ++s)
      want.emplace_back(call.call_id, int32_t(s));
  }
  for (const auto& s : part.segments) have.emplace_back(s.meta.call_id, s.meta.segment);
  if (k != part.skipped_ids.size() || want != have)
    throw DataError(file.string() + " does not hold the segments of its calls (" +
                    std::to_string(have.size()) + " rows, " + std::to_string(want.size()) +
                    " expected); pass --restart to build from the start");
}

/// Leaves in `ds` only the calls of `splits` (all of them when `splits` is empty).
void keep_calls_of_splits(data::Dataset& ds, const std::vector<std::string>& splits) {
  if (splits.empty()) return;
  const size_t all = ds.calls.size();
  std::erase_if(ds.calls, [&](const data::Call& c) {
    return std::find(splits.begin(), splits.end(), c.split) == splits.end();
  });
  logger("data")->info("extracting the {} call(s) of split(s) {} ({} in the dataset)",
                       ds.calls.size(), join(splits, ", "), all);
}

StoreMeta store_meta(const data::Dataset& ds, const json& config, const std::string& fingerprint,
                     const std::string& tokenizer_model, std::vector<std::string> skipped) {
  StoreMeta meta;
  meta.feature_set_version = kFeatureSetVersion;
  meta.functionals_version = kFunctionalsVersion;
  meta.extractor_config = config.dump();
  meta.dataset_name = ds.schema.name;
  meta.dataset_fingerprint = fingerprint;
  meta.schema_yaml = data::schema_to_yaml(ds.schema);
  meta.tokenizer_sha256 = tokenizer_model.empty() ? "" : sha256_hex(tokenizer_model);
  meta.tool_version = std::string(kVersion) + " (" + kGitCommit + ")";
  meta.created_utc = utc_now();
  meta.skipped_calls = std::move(skipped);
  std::error_code ec;
  const fs::path dir = fs::absolute(ds.root, ec);
  meta.dataset_dir = (ec ? ds.root : dir).lexically_normal().string();
  return meta;
}

}  // namespace

SegmentInfo segment_info(const Turn& segment, const std::vector<Turn>& call,
                         std::optional<std::string> text) {
  SegmentInfo info{segment.start_s, segment.end_s, std::move(text), std::nullopt, 0};
  double latest_other_end = -1;
  for (const auto& other : call) {
    if (other.speaker == segment.speaker) continue;
    if (other.start_s < segment.start_s) latest_other_end = std::max(latest_other_end, other.end_s);
    info.overlap_with_other_s += std::max(
        0.0, std::min(segment.end_s, other.end_s) - std::max(segment.start_s, other.start_s));
  }
  if (latest_other_end >= 0) info.gap_to_other_s = segment.start_s - latest_other_end;
  return info;
}

void set_turn_taking(Store& store, size_t row, const SegmentInfo& info) {
  std::vector<float> values;
  std::vector<uint8_t> mask;
  turn_taking_functionals(info, values, mask);
  const auto& columns = store.layout.functional_columns;
  const auto& names = turn_taking_names();
  for (size_t k = 0; k < names.size(); ++k) {
    const auto it = std::find(columns.begin(), columns.end(), names[k]);
    if (it == columns.end()) continue;
    const size_t at = row * columns.size() + size_t(it - columns.begin());
    store.functionals.at(at) = values[k];
    store.functional_mask.at(at) = mask[k];
  }
}

std::map<size_t, std::string> audio_rejections(const data::Dataset& dataset,
                                               const fs::path& dataset_dir,
                                               const BuildOptions& options) {
  return check_audio(dataset, dataset_dir, options);
}

std::unique_ptr<SpeechStates> load_speech_encoder(BuildOptions& o, const std::string& device) {
  if (o.speech_encoder.empty()) return nullptr;
  if (o.lld.sample_rate_hz != int(whisper::kSampleRate))
    throw ConfigError("the speech encoder " + o.speech_encoder + " reads 16 kHz audio, but the "
                      "analysis rate is " + std::to_string(o.lld.sample_rate_hz) +
                      " Hz; build with --sample-rate 16000");
  // Named by a store's or model's configuration (its SHA-256 known), or by --speech-encoder.
  const std::string key = o.speech_encoder_sha256.empty() ? "--speech-encoder"
                                                          : "the features' speech encoder";
  const fs::path dir = resolve_speech_encoder(o.speech_encoder, key);
  auto speech = std::make_unique<SpeechStates>(dir, resolve_device(device),
                                               o.speech_window == "clip"
                                                   ? SpeechWindow::clip
                                                   : SpeechWindow::padded,
                                               o.speech_encoder_sha256);
  if (o.speech_encoder_width && o.speech_encoder_width != speech->width())
    throw DataError("the speech encoder " + o.speech_encoder + " gives " +
                    std::to_string(speech->width()) + " values per segment where the features "
                    "were built with " + std::to_string(o.speech_encoder_width) +
                    "; fetch the same encoder again, or rebuild the store and retrain");
  // A directory is recorded absolute, so that predict and eval find it from anywhere.
  const auto& known = known_speech_encoders();
  if (std::find(known.begin(), known.end(), o.speech_encoder) == known.end())
    o.speech_encoder = fs::absolute(dir).lexically_normal().string();
  o.speech_encoder_sha256 = speech->sha256();
  o.speech_encoder_width = speech->width();
  return speech;
}

SpeechRecord speech_record_from(const json& s) {
  if (!s.is_object()) return {};
  return {s.value("name", ""), s.value("sha256", ""), s.value("window", "padded")};
}

SpeechRecord speech_record(const std::string& extractor_config) {
  return speech_record(json::parse(extractor_config, nullptr, false));
}

SpeechRecord speech_record(const json& extractor_config) {
  const auto it = extractor_config.find("speech_encoder");  // end() for a non-object
  return it == extractor_config.end() ? SpeechRecord{} : speech_record_from(*it);
}

const std::vector<std::string>& speech_windows() {
  static const std::vector<std::string> windows = {"padded", "clip"};
  return windows;
}

bool is_speech_window(const std::string& window) {
  const auto& windows = speech_windows();
  return std::find(windows.begin(), windows.end(), window) != windows.end();
}

BuildOptions build_options_from_config(const json& j) {
  const std::string fs_version = j.value("feature_set_version", "");
  const std::string fn_version = j.value("functionals_version", "");
  if (fs_version != kFeatureSetVersion || fn_version != kFunctionalsVersion)
    throw DataError("the model's features are " + fs_version + " / " + fn_version +
                    " but this tenor computes " + kFeatureSetVersion + " / " + kFunctionalsVersion +
                    "; use the tenor version that trained it or retrain");
  BuildOptions o;
  LldConfig& l = o.lld;
  l.sample_rate_hz = config_value<int>(j, "lld", "sample_rate_hz");
  l.frame_shift_ms = config_value<double>(j, "lld", "frame_shift_ms");
  l.f0_floor_hz = config_value<double>(j, "lld", "f0_floor_hz");
  l.f0_ceiling_hz = config_value<double>(j, "lld", "f0_ceiling_hz");
  l.periods_per_window = config_value<double>(j, "lld", "periods_per_window");
  l.max_candidates = config_value<int>(j, "lld", "max_candidates");
  l.silence_threshold = config_value<double>(j, "lld", "silence_threshold");
  l.voicing_threshold = config_value<double>(j, "lld", "voicing_threshold");
  l.octave_cost = config_value<double>(j, "lld", "octave_cost");
  l.octave_jump_cost = config_value<double>(j, "lld", "octave_jump_cost");
  l.voiced_unvoiced_cost = config_value<double>(j, "lld", "voiced_unvoiced_cost");
  l.spectral_window_ms = config_value<double>(j, "lld", "spectral_window_ms");
  l.mel_bands = config_value<int>(j, "lld", "mel_bands");
  l.mel_low_hz = config_value<double>(j, "lld", "mel_low_hz");
  l.mel_high_hz = config_value<double>(j, "lld", "mel_high_hz");
  l.mfcc_count = config_value<int>(j, "lld", "mfcc_count");
  o.sample_rate_hz = l.sample_rate_hz;
  o.functionals.pause_min_ms = config_value<double>(j, "functionals", "pause_min_ms");
  o.functionals.pause_below_peak_db = config_value<double>(j, "functionals", "pause_below_peak_db");
  o.functionals.nucleus_dip_db = config_value<double>(j, "functionals", "nucleus_dip_db");
  o.tokenizer.vocab_size = config_value<int>(j, "tokenizer", "vocab_size");
  o.tokenizer.model_type = config_value<std::string>(j, "tokenizer", "model_type");
  if (j.contains("speech_encoder")) {
    o.speech_encoder = config_value<std::string>(j, "speech_encoder", "name");
    o.speech_encoder_sha256 = config_value<std::string>(j, "speech_encoder", "sha256");
    o.speech_encoder_width = config_value<int64_t>(j, "speech_encoder", "width");
    o.speech_window = j.at("speech_encoder").value("window", "padded");
  }
  o.validate();
  return o;
}

namespace {

/// A store for the calls of `ds` with no rows yet: metadata, layout and tokenizer.
Store empty_store(const data::Dataset& ds, const BuildOptions& o, const PartBuilder& builder,
                  const std::string& tokenizer_model) {
  Store store;
  store.format = kStoreFormat;
  store.layout = {builder.lld_columns(), builder.all_functional_columns(), ds.schema.task_names()};
  store.meta = store_meta(ds, config_json(o, o.lld.sample_rate_hz), "", tokenizer_model, {});
  store.tokenizer_model = tokenizer_model;
  store.has_text = true;  // its rows keep their transcripts, as a store this tenor writes does
  for (const auto& t : ds.schema.tasks) store.task_classes[t.name] = t.classes;
  return store;
}

/// Groups of segments of `call` in start order, each of at most `group_audio_s` seconds of
/// audio (at least one segment).
std::vector<std::vector<size_t>> segment_groups(const data::Call& call, double group_audio_s) {
  std::vector<size_t> order(call.segments.size());
  for (size_t s = 0; s < order.size(); ++s) order[s] = s;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return call.segments[a].start_s < call.segments[b].start_s;
  });
  std::vector<std::vector<size_t>> groups;
  double seconds = 0;
  for (size_t s : order) {
    const double d = std::max(0.0, call.segments[s].duration_s());
    if (groups.empty() || (seconds + d > group_audio_s && !groups.back().empty())) {
      groups.emplace_back();
      seconds = 0;
    }
    groups.back().push_back(s);
    seconds += d;
  }
  return groups;
}

/// Appends one call's rows to `store`: metadata and tokens of every segment, zero functionals
/// and no frames yet.
void add_call_rows(Store& store, const PartBuilder& builder, size_t c) {
  const size_t n = builder.segment_count(c);
  if (store.token_offsets.empty()) store.token_offsets = {0};
  if (store.frame_offsets.empty()) store.frame_offsets = {0};
  for (size_t s = 0; s < n; ++s) {
    SegmentFeatures f = builder.own_features(c, s, nullptr);
    store.tokens.insert(store.tokens.end(), f.tokens.begin(), f.tokens.end());
    store.token_offsets.push_back(int64_t(store.tokens.size()));
    store.frame_offsets.push_back(store.frame_offsets.back());
    store.segments.push_back(std::move(f.meta));
  }
  const size_t nf = store.layout.functional_columns.size();
  store.functionals.resize(store.segments.size() * nf, 0.0f);
  store.functional_mask.resize(store.segments.size() * nf, 0);
}

}  // namespace

Store store_outline(const data::Dataset& ds, const BuildOptions& options,
                    const std::string& tokenizer_model) {
  options.validate();
  BuildOptions o = options;
  o.lld.sample_rate_hz = options.sample_rate_hz.value_or(ds.schema.sample_rate_hz.value_or(16000));
  o.lld.validate();
  std::unique_ptr<Tokenizer> tokenizer =
      tokenizer_model.empty() ? nullptr : std::make_unique<Tokenizer>(tokenizer_model);
  // The layout needs the encoder's width: a model's configuration gives it, else it is loaded.
  std::unique_ptr<SpeechStates> speech;
  if (!o.speech_encoder.empty() && !o.speech_encoder_width)
    speech = load_speech_encoder(o, "cpu");
  PartBuilder builder(ds, o, o.lld, c10::Device(c10::kCPU), tokenizer.get(), speech.get());
  Store store = empty_store(ds, o, builder, tokenizer_model);
  for (size_t c = 0; c < ds.calls.size(); ++c) add_call_rows(store, builder, c);
  return store;
}

void extract_features(const data::Dataset& ds, const BuildOptions& options,
                      const std::string& tokenizer_model, double group_audio_s,
                      const std::function<void(Store&, const std::vector<int64_t>&)>& sink) {
  options.validate();
  BuildOptions o = options;
  o.lld.sample_rate_hz = options.sample_rate_hz.value_or(ds.schema.sample_rate_hz.value_or(16000));
  o.lld.validate();
  if (o.threads > 0) compat::set_cpu_threads(o.threads);
  const c10::Device device = resolve_device(o.device);
  std::unique_ptr<Tokenizer> tokenizer =
      tokenizer_model.empty() ? nullptr : std::make_unique<Tokenizer>(tokenizer_model);
  const std::unique_ptr<SpeechStates> speech = load_speech_encoder(o, device.str());
  PartBuilder builder(ds, o, o.lld, device, tokenizer.get(), speech.get());
  const size_t n_lld = builder.lld_columns().size();
  for (size_t c = 0; c < ds.calls.size(); ++c) {
    const data::Call& call = ds.calls[c];
    Store store = empty_store(ds, o, builder, tokenizer_model);
    add_call_rows(store, builder, c);
    const size_t nf = store.layout.functional_columns.size();
    std::vector<SegmentFeatures> own(call.segments.size());  // functionals once computed
    for (const auto& group : segment_groups(call, group_audio_s)) {
      double audio_s = 0;
      std::map<std::pair<size_t, size_t>, LldTable> tables;
      PartBuilder::SpeechValues states;
      try {
        const auto jobs = builder.read_jobs(c, group, audio_s);
        tables = builder.lld_tables(jobs);
        states = builder.speech_states(jobs);
      } catch (const Error& e) {
        throw DataError("call " + call.call_id + " (" + ds.source + ":" +
                        std::to_string(call.line) + "): " + e.what());
      }
      for (size_t s : group) {
        auto it = tables.find({c, s});
        own[s] = builder.own_features(c, s, it == tables.end() ? nullptr : &it->second, &states);
      }
      tables.clear();
      store.frames.clear();
      std::vector<int64_t> rows(group.begin(), group.end());
      std::sort(rows.begin(), rows.end());
      std::vector<int64_t> frames(call.segments.size() + 1, 0);
      for (int64_t r : rows) {
        const size_t s = size_t(r);
        builder.add_relative(
            c, s, [&](size_t e) -> const SegmentFeatures& { return own[e]; }, own[s]);
        std::copy(own[s].functionals.begin(), own[s].functionals.end(),
                  store.functionals.begin() + long(s * nf));
        std::copy(own[s].mask.begin(), own[s].mask.end(),
                  store.functional_mask.begin() + long(s * nf));
        frames[s + 1] = int64_t(own[s].frames.size() / n_lld);
        store.frames.insert(store.frames.end(), own[s].frames.begin(), own[s].frames.end());
        own[s].frames = std::vector<float>();  // frees it (`= {}` would keep the capacity)
      }
      for (size_t s = 0; s < call.segments.size(); ++s) frames[s + 1] += frames[s];
      store.frame_offsets = std::move(frames);
      sink(store, rows);
    }
  }
}

struct SegmentExtractor::Impl {
  BuildOptions options;
  std::string tokenizer_model;
  std::unique_ptr<Tokenizer> tokenizer;
  c10::Device device = c10::Device(c10::kCPU);
  std::unique_ptr<SpeechStates> speech;
};

SegmentExtractor::SegmentExtractor(const BuildOptions& options, const std::string& tokenizer_model)
    : impl_(std::make_unique<Impl>()) {
  options.validate();
  impl_->options = options;
  impl_->options.lld.sample_rate_hz = options.sample_rate_hz.value_or(16000);
  impl_->options.lld.validate();
  impl_->tokenizer_model = tokenizer_model;
  if (!tokenizer_model.empty()) impl_->tokenizer = std::make_unique<Tokenizer>(tokenizer_model);
  impl_->device = resolve_device(options.device);
  impl_->speech = load_speech_encoder(impl_->options, impl_->device.str());
}

SegmentExtractor::~SegmentExtractor() = default;

Store SegmentExtractor::extract(const data::Dataset& ds, size_t s,
                                std::map<std::string, BaselineSums>& baselines) {
  const BuildOptions& o = impl_->options;
  PartBuilder builder(ds, o, o.lld, impl_->device, impl_->tokenizer.get(), impl_->speech.get());
  Store store = empty_store(ds, o, builder, impl_->tokenizer_model);
  add_call_rows(store, builder, 0);
  const data::Call& call = ds.calls.at(0);
  double audio_s = 0;
  std::map<std::pair<size_t, size_t>, LldTable> tables;
  PartBuilder::SpeechValues states;
  try {
    const auto jobs = builder.read_jobs(0, {s}, audio_s);
    tables = builder.lld_tables(jobs);
    states = builder.speech_states(jobs);
  } catch (const Error& e) {
    throw DataError("call " + call.call_id + ": " + e.what());
  }
  auto it = tables.find({0, s});
  SegmentFeatures f =
      builder.own_features(0, s, it == tables.end() ? nullptr : &it->second, &states);
  tables.clear();
  const auto& names = builder.functional_columns();
  BaselineSums& earlier = baselines[call.segments[s].speaker];
  const BaselineSums before = earlier;
  earlier.add(names, f.functionals, f.mask);
  append_relative_to_baseline(names, before, f.functionals, f.mask);
  const size_t nf = store.layout.functional_columns.size(), n_lld = builder.lld_columns().size();
  std::copy(f.functionals.begin(), f.functionals.end(), store.functionals.begin() + long(s * nf));
  std::copy(f.mask.begin(), f.mask.end(), store.functional_mask.begin() + long(s * nf));
  for (size_t r = s + 1; r < store.frame_offsets.size(); ++r)
    store.frame_offsets[r] = int64_t(f.frames.size() / n_lld);
  store.frames = std::move(f.frames);
  return store;
}

void BuildOptions::validate() const {
  lld.validate();
  tokenizer.validate();
  if (calls_per_part < 1) throw ConfigError("calls_per_part must be at least 1");
  if (sample_rate_hz && (*sample_rate_hz < 4000 || *sample_rate_hz > 96000))
    throw ConfigError("sample rate " + std::to_string(*sample_rate_hz) +
                      " Hz must lie between 4000 and 96000");
  if (functionals.pause_min_ms <= 0) throw ConfigError("functionals.pause_min_ms must be above 0");
  if (!is_speech_window(speech_window))
    throw ConfigError("speech window '" + speech_window + "' is neither padded nor clip");
}

BuildReport build_feature_store(const fs::path& dataset_dir, const fs::path& out,
                                const BuildOptions& options) {
  options.validate();
  const auto t0 = std::chrono::steady_clock::now();
  data::Dataset ds = data::load_dataset_or_throw(dataset_dir);
  data::refuse_output_inside_dataset(dataset_dir, out);
  keep_calls_of_splits(ds, options.splits);
  new_output_file(out, "--out", "features.h5");
  // One build per output: a second one would write into the same parts and store. The lock
  // is taken before the parts directory is touched and dies with its process.
  std::error_code ec;
  if (out.has_parent_path()) fs::create_directories(out.parent_path(), ec);
  FileLock lock(out.string() + ".lock", "the feature store " + out.string());
  BuildOptions o = options;
  o.lld.sample_rate_hz = options.sample_rate_hz.value_or(ds.schema.sample_rate_hz.value_or(16000));
  o.lld.validate();
  compat::set_cpu_threads(o.threads);
  const c10::Device device = resolve_device(o.device);
  BuildReport report;
  report.device = device.str();
  // Audio is checked first, so that bad input fails before hours of extraction.
  data::ChannelConvention convention;
  auto rejected = check_audio(ds, dataset_dir, o, &convention);

  const std::string fingerprint = Sha256()
                                      .update(read_file(dataset_dir / "dataset.yaml"))
                                      .update(std::string(1, '\0'))
                                      .update_file(dataset_dir / ds.source)
                                      .hex();
  const std::unique_ptr<SpeechStates> speech = load_speech_encoder(o, device.str());
  const json config = config_json(o, o.lld.sample_rate_hz);
  const fs::path parts = out.string() + ".parts";
  json expected = {
      {"dataset_fingerprint", fingerprint}, {"config", config}, {"tool_version", kVersion}};
  if (!o.splits.empty()) expected["splits"] = o.splits;
  json state = open_parts(parts, expected, options.restart);
  const std::string model = build_tokenizer(parts, ds, o, state);
  std::unique_ptr<Tokenizer> tokenizer =
      model.empty() ? nullptr : std::make_unique<Tokenizer>(model);
  PartBuilder builder(ds, o, o.lld, device, tokenizer.get(), speech.get(), std::move(rejected));
  report.parts_resumed = extract_parts(parts, ds, o, state, sha256_hex(model), builder);

  // Assemble the store from the parts, then rename it into place.
  StoreLayout layout{builder.lld_columns(), builder.all_functional_columns(),
                     ds.schema.task_names()};
  const fs::path temp = temp_path_for_output(out);  // under the lock: a killed build's goes
  try {
    StoreWriter writer(temp, layout);
    const size_t per = static_cast<size_t>(o.calls_per_part);
    for (size_t first = 0, p = 0; first < ds.calls.size(); first += per, ++p) {
      const fs::path file = parts / part_name(p);
      Part part = read_part(file);
      check_part_rows(part, ds, first, std::min(ds.calls.size(), first + per), file);
      for (const auto& s : part.segments)
        writer.append(s.meta, s.functionals, s.mask, s.frames, s.tokens);
      report.segments += part.segments.size();
      report.audio_seconds += part.audio_seconds;
      for (auto& s : part.skipped) report.skipped.push_back(std::move(s));
    }
    std::map<std::string, std::vector<std::string>> classes;
    for (const auto& t : ds.schema.tasks) classes[t.name] = t.classes;
    writer.finish(store_meta(ds, config, fingerprint, model, report.skipped), classes, model);
    if (convention.audio_channels > 0) write_channel_convention(temp, convention.to_json().dump());
    fs::rename(temp, out, ec);
    if (ec)
      throw IoError("cannot rename " + temp.string() + " to " + out.string() + ": " + ec.message());
  } catch (...) {
    fs::remove(temp, ec);
    throw;
  }
  fs::remove_all(parts, ec);
  report.calls = ds.calls.size() - report.skipped.size();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace tenor::features
