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
// The scores are those of `tenor predict --bundle` on the same audio and transcript: the same
// checks, the same feature extraction (the bundle's features.json and tokenizer), the bundle's
// model.onnx in ONNX Runtime and its decision rules (calibration.json). This header needs no
// LibTorch, ONNX or HDF5 headers; the package links their libraries (docs/export.md, "A C++
// library for products").

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
};

/// A task of the bundle: its name, the role whose segments it scores, its classes.
struct TaskInfo {
  std::string name, speaker;
  std::vector<std::string> classes;
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

  const std::vector<TaskInfo>& tasks() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tenor::scoring
