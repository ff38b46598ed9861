#pragma once
// `tenor data synth`: a labelled synthetic call dataset with real speech from espeak-ng,
// the README demo's data and the end-to-end tests' data.

#include <cstdint>
#include <filesystem>

namespace tenor::data {

/// What to generate. The YAML key, the field and the CLI flag are the same word.
struct SynthOptions {
  int calls = 24;                     ///< number of calls
  uint64_t seed = 1;                  ///< same seed (and espeak-ng install) -> byte-identical files
  int sample_rate_hz = 16000;         ///< written rate of the stereo WAVs
  int min_turns = 6, max_turns = 10;  ///< customer+agent turns per call
  int customers = 12;                 ///< distinct customer voices/speaker ids (recur across calls)
  int agents = 4;                     ///< distinct agent voices/ids (agent-1 ... agent-N)
  double escalating_share = 0.5;      ///< share of calls whose customer escalates
  double empathetic_share = 0.5;      ///< share of calls whose agent is empathetic
  int annotators = 3;                 ///< simulated annotators in labels_by (0 = none)
  /// Chance that an annotator's label deviates from the true one by +-1 class (equal odds,
  /// clamped to the class range, so at the ends of a scale half the deviations are no-ops).
  double annotator_noise = 0.1;

  /// Throws tenor::UsageError (core/error.h) naming the field, its value and the valid range.
  void validate() const;
};

/// Writes a new dataset directory `out` (dataset.yaml, calls.jsonl, audio/c-NNNN.wav):
/// stereo 16-bit WAVs (channel 0 agent, channel 1 customer) with espeak-ng speech over a
/// -60 dBFS noise floor, one segment per turn whose start/end bound the speech, labelled
/// `escalation` (ordinal calm..hostile, customer) and `empathy` (binary, agent).
///
/// Refuses (UsageError) if `out` exists and is not an empty directory. Written into a
/// temporary sibling directory and renamed into place, so a crash never leaves half a
/// dataset. Throws DataError when espeak-ng cannot start (espeak-ng-data missing) and
/// IoError when a file cannot be written. Safe to call from several threads: each call
/// synthesises in its own child process (see synth.cpp for why).
void synthesize_dataset(const std::filesystem::path& out, const SynthOptions& options);

}  // namespace tenor::data
