#pragma once
// A call scored as it happens (tenor::scoring::Stream, scoring/scoring.h): audio pushed in
// chunks, turns given by the caller when its ASR or diarisation finishes them (or, without
// turn events, the windows of data::AudioWindows as their audio comes in), each scored at
// once by the one path of scoring/call_scoring.h (data::single_call_dataset's checks,
// features::SegmentExtractor, the Predictor, train::segment_scores), and every segment's
// final score at the end. Internal: includes LibTorch. docs/export.md, "Streaming", says what
// a product can rely on.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
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
  /// No turn events: the audio is cut into windows of window_s seconds per role
  /// (data::AudioWindows, as a call without a transcript), each scored when its audio is in.
  bool windows = false;
  double window_s = 10;
  std::string speaker = "customer";  ///< windows' role when no channel is mapped (mono, mix)
};

/// One stream. Not thread-safe by itself (scoring::Stream serialises its calls); `model` is
/// used under `model_lock`, shared with every other call and stream of the model.
///
/// Each segment (turn or window) gets a provisional score when it is given and a final one
/// by finish(): train::segment_scores of the whole call with the same segments. They differ
/// for a turn overlapped by a turn of the other speaker given after it (its
/// overlap_with_other_s: the turn's features are kept until no later turn can overlap it, and
/// it is re-scored then), for every segment of a `speaker_normalization: call` model (each
/// centred on its speaker's turns so far, then on the whole call's: every segment's features
/// are kept), and for the last window when the call's end joins it.
class CallStream {
 public:
  /// Checks the setup against the model (channel mapping, sample rate, windows): UsageError
  /// for multi-channel audio nobody mapped or bad options, DataError for a rate the model
  /// cannot analyse.
  CallStream(train::Predictor& model, std::mutex* model_lock, StreamSetup setup);

  /// Appends `frames` samples per channel (`channels[c]` points at channel c's). Returns the
  /// provisional scores of the windows this audio completes (none without windows). DataError
  /// for a wrong channel count or a non-finite sample (nothing taken); UsageError after
  /// finish().
  std::vector<nlohmann::json> push(const std::vector<const float*>& channels, size_t frames);

  /// The provisional score of the finished turn [start_s, end_s) of `speaker` with its `text`
  /// ("" for none): its train::segment_scores entry, "segment" = the turn's number from 0.
  /// DataError (nothing changed) for a turn that ends past the audio pushed, starts before the
  /// previous turn or inside the same speaker's previous turn, starts in audio already
  /// dropped, or has an unknown role; UsageError after finish() or in windows.
  nlohmann::json push_turn(const std::string& speaker, double start_s, double end_s,
                           const std::string& text);

  /// Ends the stream and returns every segment's final score, in segment order (windows: the
  /// rest of the audio scored first). DataError for windows without audio enough for one
  /// analysis frame (the stream stays open); UsageError when finished already.
  std::vector<nlohmann::json> finish();

  double pushed_s() const { return double(pushed_frames_) / setup_.sample_rate_hz; }
  /// Frames (per channel) of audio held now: what bounds the stream's memory.
  int64_t held_frames() const { return int64_t(buffer_.empty() ? 0 : buffer_[0].size()) - offset_; }
  /// Turns kept for the features of turns to come (at most two per speaker).
  size_t kept_turns() const { return kept_.size(); }
  /// Segments whose features are kept for their final score (see the class comment).
  size_t kept_features() const { return rows_.size(); }

 private:
  struct Turn {
    std::string speaker, text;
    double start_s = 0, end_s = 0;
  };
  /// A scored segment whose features are kept for its final score: its extraction's store
  /// (row `row` is the segment's), the call's turns its turn-taking features read, in call
  /// order, and whether a turn given later overlaps it.
  struct Row {
    int segment = 0;
    Turn turn;
    features::Store store;
    size_t row = 0;
    std::vector<features::Turn> turns;
    bool overlapped = false;
  };
  /// What a window group changes: restored when the call's end joins its windows.
  struct Undo {
    std::vector<Turn> kept;
    int turns = 0;
    double last_start_s = 0;
    std::map<std::string, features::BaselineSums> baselines;
    std::map<std::string, features::SpeakerSums> speaker_sums;
  };
  void check_turn(const Turn& turn) const;
  data::CallInput call_input(const std::vector<const Turn*>& turns) const;
  std::vector<nlohmann::json> score_turns(const std::vector<Turn>& turns);
  nlohmann::json score_row(features::Store& store, size_t row, int segment);
  void note_overlaps(const Turn& turn);
  void settle();
  nlohmann::json final_score(Row& row);
  std::vector<nlohmann::json> score_windows(double duration_s);
  void end_windows();
  void keep(Turn turn);
  void drop_audio();

  train::Predictor& model_;
  std::mutex* model_lock_;
  StreamSetup setup_;
  std::map<std::string, int> channels_;  ///< resolved once: role -> channel
  std::vector<std::string> window_roles_;  ///< windows: the roles each window is scored for
  features::SegmentExtractor extractor_;
  std::vector<std::vector<float>> buffer_;  ///< per channel, frames from dropped_ on
  int64_t offset_ = 0;                      ///< frames of buffer_ no longer needed
  int64_t dropped_ = 0;                     ///< frames erased from buffer_'s front
  int64_t pushed_frames_ = 0;
  std::vector<Turn> kept_;  ///< the last two turns of each speaker, in push order
  int turns_ = 0;
  double last_start_s_ = 0;
  std::map<std::string, features::BaselineSums> baselines_;
  std::map<std::string, features::SpeakerSums> speaker_sums_;
  std::vector<nlohmann::json> finals_;  ///< per segment: its score, final once no Row is left
  std::vector<Row> rows_;               ///< segments whose final score may still change
  data::AudioWindows windows_;
  std::optional<Undo> undo_;  ///< windows: before the last window group
  bool finished_ = false;
};

}  // namespace tenor::scoring
