#pragma once
// One call given on the command line rather than as a dataset: an audio file and/or a
// transcript, as a product integrator has them (`tenor predict CALL.wav --transcript T.jsonl`).
// It becomes a one-call Dataset, so the features come from exactly the code path of
// `tenor data build`.

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "data/dataset.h"

namespace tenor::data {

struct CallInput {
  std::filesystem::path audio;          ///< WAV or FLAC; empty for a text-only call
  std::filesystem::path transcript;     ///< JSONL, one segment object per line; empty: none
  std::map<std::string, int> channels;  ///< role -> channel of multi-channel audio
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
/// The transcript's segments are checked as calls.jsonl segments are (times, speaker, text),
/// plus: end within the audio, a speaker that has a channel when channels are given.
/// Throws DataError listing every problem as `file:line: sentence`.
Dataset single_call_dataset(const CallInput& input, Schema schema);

}  // namespace tenor::data
