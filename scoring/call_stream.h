#pragma once
// A call scored as it happens (tenor::scoring::Stream, scoring/scoring.h): audio pushed in
// chunks, turns given by the caller when its ASR or diarisation finishes them, each turn
// scored at once by the one path of scoring/call_scoring.h (data::single_call_dataset's
// checks, features::SegmentExtractor, the Predictor, train::segment_scores). Internal:
// includes LibTorch. docs/export.md, "Streaming", says what a product can rely on.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/call_input.h"
#include "data/features/build.h"
#include "train/input_transform.h"
#include "train/predictor.h"

namespace tenor::scoring {

/// How a stream's audio comes and who speaks on which channel.
struct StreamSetup {
  std::string call_id = "stream";
  int sample_rate_hz = 16000;        ///< of the pushed samples
  int channels = 2;                  ///< samples per frame of a push
  std::map<std::string, int> roles;  ///< role -> channel; empty: as data::CallInput's channels
  bool mix = false;
  data::ChannelConvention convention;
  /// Audio older than this (and older than the last turn's start) is dropped: a turn must
  /// start within max_turn_s of the audio pushed when it is given.
  double max_turn_s = 300;
  bool allow_narrowband = false;
};

/// One stream. Not thread-safe by itself (scoring::Stream serialises its calls); `model` is
/// used under `model_lock`, shared with every other call and stream of the model.
class CallStream {
 public:
  /// Checks the setup against the model (channel mapping, sample rate): UsageError for
  /// multi-channel audio nobody mapped, DataError for a rate the model cannot analyse.
  CallStream(train::Predictor& model, std::mutex* model_lock, StreamSetup setup);

  /// Appends `frames` samples per channel (`channels[c]` points at channel c's). DataError for
  /// a wrong channel count or a non-finite sample; UsageError after finish().
  void push(const std::vector<const float*>& channels, size_t frames);

  /// Scores the finished turn [start_s, end_s) of `speaker` with its `text` ("" for none): its
  /// train::segment_scores entry, "segment" = the turn's number from 0. DataError (nothing
  /// changed) for a turn that ends past the audio pushed, starts before the previous turn or
  /// inside the same speaker's previous turn, starts in audio already dropped, or has an
  /// unknown role; UsageError after finish().
  nlohmann::json push_turn(const std::string& speaker, double start_s, double end_s,
                           const std::string& text);

  /// Ends the stream: later pushes and turns are refused.
  void finish() { finished_ = true; }

  double pushed_s() const { return double(pushed_frames_) / setup_.sample_rate_hz; }
  /// Frames (per channel) of audio held now: what bounds the stream's memory.
  int64_t held_frames() const { return int64_t(buffer_.empty() ? 0 : buffer_[0].size()) - offset_; }
  /// Turns kept for the features of turns to come (at most two per speaker).
  size_t kept_turns() const { return kept_.size(); }

 private:
  struct Turn {
    std::string speaker, text;
    double start_s = 0, end_s = 0;
  };
  void check_turn(const Turn& turn) const;
  data::CallInput call_input(const std::vector<const Turn*>& turns) const;
  nlohmann::json score(const data::Dataset& call);
  void keep(Turn turn);
  void drop_audio();

  train::Predictor& model_;
  std::mutex* model_lock_;
  StreamSetup setup_;
  std::map<std::string, int> channels_;  ///< resolved once: role -> channel
  features::SegmentExtractor extractor_;
  std::vector<std::vector<float>> buffer_;  ///< per channel, frames from dropped_ on
  int64_t offset_ = 0;                      ///< frames of buffer_ no longer needed
  int64_t dropped_ = 0;                     ///< frames erased from buffer_'s front
  int64_t pushed_frames_ = 0;
  std::vector<Turn> kept_;  ///< the last two turns of each speaker, in push order
  int turns_ = 0;
  double last_start_s_ = 0;
  std::map<std::string, features::BaselineSums> baselines_;
  std::map<std::string, train::SpeakerSums> speaker_sums_;
  bool finished_ = false;
};

}  // namespace tenor::scoring
