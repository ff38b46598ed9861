#pragma once
// tenor::scoring: score calls with an exported bundle from a product's own process.
//
//   find_package(tenor REQUIRED)
//   target_link_libraries(my_app PRIVATE tenor::scoring)
//
//   tenor::scoring::Scorer scorer("bundles/demo");           // load once
//   tenor::scoring::Call call;
//   call.sample_rate_hz = 16000;
//   call.channels = {agent_samples, customer_samples};      // float, full scale 1
//   call.roles = {{"agent", 0}, {"customer", 1}};
//   for (const auto& s : scorer.score(call))                 // any thread, concurrently
//     for (const auto& t : s.tasks) use(s.speaker, s.start_s, t.task, t.decision, t.calibrated);
//
//   tenor::scoring::Stream stream = scorer.open_stream({});  // a call as it happens
//   stream.push({agent_chunk, customer_chunk}, frames);      // as the audio arrives
//   auto s = stream.push_turn({12.0, 19.5, "customer", "I want to cancel"});  // when ASR ends it
//   auto finals = stream.finish();                           // the call's final scores
//
// The scores are those of `tenor predict --bundle` on the same audio and transcript: the same
// checks, the same feature extraction (the bundle's features.json and tokenizer), the bundle's
// model.onnx in ONNX Runtime and its decision rules (calibration.json). This header needs no
// LibTorch, ONNX or HDF5 headers; the package links their libraries (docs/export.md, "A C++
// library for products").

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"

namespace tenor::scoring {

/// One segment of a call's transcript, as `tenor predict --transcript` reads a line.
struct Segment {
  double start_s = 0, end_s = 0;  ///< seconds from the start of the audio
  std::string speaker;            ///< a role: agent, customer, or one of the bundle's tasks'
  std::string text;               ///< "" for none
};

/// A call: PCM audio of one or two (or more) channels and/or its transcript.
struct Call {
  std::string call_id = "call";
  int sample_rate_hz = 16000;  ///< any rate; resampled to the bundle's
  /// One vector of samples per channel, all of one length, full scale 1. Empty: a text-only
  /// call (then `transcript` is required).
  std::vector<std::vector<float>> channels;
  /// Role -> channel index. Empty: the bundle's training calls' mapping when the audio has
  /// their number of channels; otherwise multi-channel audio is refused unless `mix`.
  std::map<std::string, int> roles;
  bool mix = false;                ///< mix the channels into one voice track
  std::vector<Segment> transcript; ///< empty: the audio is scored in windows
  double window_s = 10;            ///< without a transcript: seconds per window
  std::string speaker = "customer";  ///< without a transcript or roles: the audio's role
};

/// One task's score of a segment.
struct TaskScore {
  std::string task;                 ///< e.g. "escalation"
  std::vector<double> probs;        ///< raw class probabilities, in `classes` order
  std::vector<double> calibrated;   ///< after the bundle's temperature
  std::string decision;             ///< the class decided under the bundle's rules
};

/// One scored segment (a transcript line, or a window).
struct SegmentScore {
  int segment = 0;
  std::string speaker;
  double start_s = 0, end_s = 0;
  std::vector<TaskScore> tasks;  ///< the tasks of the segment's role (none for other roles)
  /// Scorer::score's and Stream::finish()'s scores are final; a stream's scores before
  /// finish() are provisional: the call's later audio and turns can still change them (Stream).
  bool final = true;
};

/// A task of the bundle: its name, the role whose segments it scores, its classes.
struct TaskInfo {
  std::string name, speaker;
  std::vector<std::string> classes;
};

/// How a stream's audio comes (Scorer::open_stream).
struct StreamOptions {
  std::string call_id = "stream";
  int sample_rate_hz = 16000;  ///< of the pushed samples, any rate; resampled to the bundle's
  int channels = 2;            ///< 1 (mono) or 2: the channels of every push
  /// Role -> channel. Empty: the bundle's training calls' mapping when the stream has their
  /// number of channels; mono: every role on the one channel; else refused unless `mix`.
  std::map<std::string, int> roles;
  bool mix = false;  ///< mix the channels into one voice track
  /// The longest a turn may be, in seconds: the stream holds this much audio (and what the
  /// last turn's start on needs), so that its memory stays bounded on a call of any length.
  double max_turn_s = 300;
  /// No turn events: the stream cuts the audio into windows of `window_s` seconds, one set per
  /// role (the roles mapped to channels, else `speaker`), as Scorer::score cuts a call without
  /// a transcript, and each window's scores come back from the push that completes it.
  /// Without it (the default), the product gives each finished turn (Stream::push_turn).
  bool windows = false;
  double window_s = 10;              ///< windows: seconds per window (max_turn_s at least twice)
  std::string speaker = "customer";  ///< windows without roles (mono, mix): the audio's role
};

class Scorer;

/// A call scored as it happens: push its audio in chunks as it arrives, and each turn when the
/// product's ASR or diarisation has finished it; the turn's scores come back at once. Or, opened
/// with StreamOptions::windows, push only audio: each window's scores come back from the push
/// that completes it.
///
/// These scores are provisional (SegmentScore::final false); finish() returns every segment's
/// final score, equal to Scorer::score on the whole call with the same turns (or windows). A
/// provisional score is already the final one except (docs/export.md, "Streaming"): for a
/// bundle with `speaker_normalization: call`, every segment (centred on its speaker's turns so
/// far, not the whole call's); a turn overlapped by a turn of the other speaker given after it
/// (its overlap feature); the last window when the call ends less than a third of a window
/// after it (the rest joins it). The stream holds the audio no segment to come can need, no
/// longer than max_turn_s, a few turns' features (every segment's for call normalisation) and
/// one score per segment for finish(), never the call's audio.
///
/// A Stream's calls are serialised (one at a time, from any thread); many streams and score()
/// calls may run at once on one Scorer, which must outlive its streams. Every error is a
/// tenor::Error that leaves the stream as it was: DataError for bad input (a wrong channel
/// count, a non-finite sample, a turn that ends after the audio pushed, starts before the
/// previous turn or inside its speaker's previous turn, or has an unknown role; finish() of a
/// stream in windows that holds less audio than one analysis frame), UsageError for a call
/// after finish() and for push_turn on a stream in windows.
class Stream {
 public:
  ~Stream();
  Stream(Stream&&) noexcept;
  Stream& operator=(Stream&&) noexcept;

  /// Appends `frames` samples of every channel: `channels[c]` points at channel c's, float at
  /// full scale 1. Any chunk size, one sample included; the scores do not depend on it.
  /// Returns the provisional scores of the windows this audio completes (windows; none
  /// otherwise), in segment order.
  std::vector<SegmentScore> push(const std::vector<const float*>& channels, size_t frames);
  /// The same for one vector per channel, all of one length.
  std::vector<SegmentScore> push(const std::vector<std::vector<float>>& chunk);

  /// The provisional scores of the finished turn `turn` (its audio pushed already; turns in
  /// the order they start, a speaker's turns not overlapping). SegmentScore::segment counts
  /// turns from 0.
  SegmentScore push_turn(const Segment& turn);

  /// Ends the stream and returns every segment's final score, in segment order (windows: the
  /// rest of the audio scored first). Later pushes, turns and finish() are refused.
  std::vector<SegmentScore> finish();

  double pushed_s() const;       ///< seconds of audio pushed so far
  int64_t held_frames() const;   ///< samples per channel held now (bounded by max_turn_s)

 private:
  friend class Scorer;
  struct Impl;
  explicit Stream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// A loaded bundle. score() may be called from many threads at once: features are extracted
/// in parallel, the model runs one call at a time.
class Scorer {
 public:
  /// Loads `bundle` (a directory `tenor export` wrote) after checking its files against its
  /// manifest (as `tenor export verify` does first). Throws tenor::ExportError for a bundle that
  /// is tampered with or incomplete, tenor::DataError for one that is missing or that this
  /// tenor cannot read; the message names the file and the fix.
  explicit Scorer(const std::string& bundle);
  ~Scorer();
  Scorer(const Scorer&) = delete;
  Scorer& operator=(const Scorer&) = delete;

  /// Per-segment scores of `call`, in segment order. Throws tenor::DataError for input that
  /// cannot be scored (no samples, channels of unequal length, a transcript segment past the
  /// audio, an unknown role, audio sampled too low for the bundle) and tenor::UsageError for
  /// multi-channel audio without a mapping; the message names the value and the fix.
  std::vector<SegmentScore> score(const Call& call) const;

  /// A stream of one call (see Stream). Throws tenor::UsageError for multi-channel audio
  /// without a mapping or bad options, tenor::DataError for a rate the bundle cannot analyse.
  Stream open_stream(const StreamOptions& options) const;

  const std::vector<TaskInfo>& tasks() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tenor::scoring
