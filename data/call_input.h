#pragma once
// One call given on the command line rather than as a dataset: an audio file and/or a
// transcript, as a product integrator has them (`tenor predict CALL.wav --transcript T.jsonl`).
// It becomes a one-call Dataset, so the features come from exactly the code path of
// `tenor data build`.

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "data/audio.h"
#include "data/dataset.h"

namespace tenor::data {

/// How the calls a model was trained on put speaker roles on channels: every call with audio
/// had `audio_channels` channels and the same role -> channel mapping `channels` (empty: mono
/// audio, or multi-channel audio mixed down). A call recorded the same way is scored with that
/// mapping without being told (`tenor predict`). `audio_channels` 0: the training calls
/// disagree, or the model predates the convention being recorded; there is none.
struct ChannelConvention {
  int audio_channels = 0;
  std::map<std::string, int> channels;

  /// A mapping a call whose audio has `channels_in_file` channels can take from it.
  bool fits(int channels_in_file) const {
    return audio_channels == channels_in_file && !channels.empty();
  }
  /// {"audio_channels": 2, "channels": {"agent": 0, "customer": 1}}; null when there is none.
  nlohmann::json to_json() const;
  /// From to_json's form ("" or null: none). DataError naming `where` when malformed.
  static ChannelConvention from_json(const nlohmann::json& j, const std::string& where);
};

/// The convention of `dataset`'s calls, from the scans of their audio (by path as written, as
/// check_dataset_audio returns them): the one channel count and mapping every call with audio
/// shares, else none.
ChannelConvention channel_convention(const Dataset& dataset,
                                     const std::map<std::string, AudioScan>& scans);

/// "agent=0, customer=1".
std::string channel_map_text(const std::map<std::string, int>& channels);

/// The windows a call without a transcript is scored in, cut as its audio grows (the one
/// windowing of `tenor predict`, Scorer::score and a stream in windows): windows of `window_s`
/// seconds from 0, each [start, start + window_s); when the audio ends, the rest is one more
/// window, or joins the last one when it is shorter than a third of a window.
class AudioWindows {
 public:
  struct Window {
    double start_s = 0, end_s = 0;
  };
  explicit AudioWindows(double window_s) : window_s_(window_s) {}
  /// The windows not given yet that end within audio of `duration_s` seconds.
  std::vector<Window> full(double duration_s);
  /// The end of audio of `duration_s` seconds (after full(duration_s)): the rest of it as a
  /// window, with `joins` set when it is to replace the last window given (the same start,
  /// its end extended); none when no audio is left.
  struct Tail {
    Window window;
    bool joins = false;
  };
  std::optional<Tail> end(double duration_s) const;
  int given() const { return given_; }  ///< windows given by full()

 private:
  double window_s_;
  double next_start_s_ = 0, last_start_s_ = 0;
  int given_ = 0;
};

struct CallInput {
  std::filesystem::path audio;          ///< WAV or FLAC; empty for a text-only call
  /// The call's samples in memory instead of a file (`audio` is then only its name in
  /// messages, e.g. "call-7 (samples)"); read where they are, never copied.
  std::shared_ptr<const PcmView> pcm;
  std::filesystem::path transcript;     ///< JSONL, one segment object per line; empty: none
  /// The transcript's lines in memory instead of a file (`transcript` is then only its name
  /// in messages): each one segment object, read and checked exactly as a file's lines.
  std::optional<std::vector<std::string>> transcript_lines;
  /// Role -> channel of multi-channel audio. Empty: taken from `convention` when the audio
  /// fits it; else multi-channel audio is refused unless `mix`.
  std::map<std::string, int> channels;
  bool mix = false;               ///< mix the channels down (asked for: `--mix`)
  ChannelConvention convention;   ///< the model's training calls' mapping
  std::string call_id;                  ///< default: the audio's (else transcript's) file stem
  /// Without a transcript the audio is cut into windows of this many seconds, one set per
  /// role in `channels` (or `speaker` when there are none). A last piece shorter than a
  /// third of a window joins the one before it.
  double window_s = 10;
  std::string speaker = "customer";
};

/// Parses "agent=0,customer=1". Throws UsageError naming the bad item and the fix.
std::map<std::string, int> parse_channel_map(const std::string& text);

/// A one-call dataset rooted at the audio's directory, with `schema`'s tasks and no labels.
/// The transcript's segments are read by the dataset reader (parse_segment_json: times,
/// speaker, text; an unknown key is an error naming the nearest known one), their roles must
/// be the dataset format's or the schema's, and validate's check_call_fits_audio checks them
/// against the audio (segments within it, channels it has); a speaker needs a channel when
/// channels are given. Throws DataError listing every problem as `file:line: sentence`.
///
/// The channels are explicit: multi-channel audio without `channels` takes the convention's
/// mapping when it fits, is mixed down with `mix`, and is otherwise refused (UsageError naming
/// --channels and --mix). Mono audio for a schema with tasks on two roles is scored with a
/// warning that says what is scored.
Dataset single_call_dataset(const CallInput& input, Schema schema);

}  // namespace tenor::data
