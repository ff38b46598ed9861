#pragma once
// Duplicate and near-duplicate calls: the same chat exported twice, the same recording under
// two names. Across splits they are leakage (a test score measures memory); `data validate`
// reports them per call pair and `data split` keeps them in one split.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/dataset.h"

namespace tenor::data {

/// Text: a call's transcript (its segments' texts in order) is normalised (lower-cased,
/// punctuation becomes space; an anonymiser's placeholder, an e-mail address or a URL becomes
/// one placeholder word, see normalized_words) and cut into overlapping word 3-grams (shingles,
/// Broder 1997). Shorter shingles
/// than the 5-grams of web-page deduplication, because calls are short: two words anonymised
/// differently in a 30-word chat ("#EMAIL#") leave 3-gram Jaccard above 0.5, 5-grams below.
inline constexpr size_t kShingleWords = 3;
/// Calls with fewer words are not compared by text: two short calls ("Kids are talking by the
/// door.") say the same words without being copies.
inline constexpr size_t kMinDuplicateWords = 10;
/// Two calls are near-duplicates when the Jaccard index of their shingle sets reaches this
/// (the default of `--duplicate-jaccard`): a few words changed in a 100-word call keep it above
/// 0.8, shared greetings of distinct calls stay far below.
inline constexpr double kNearDuplicateJaccard = 0.5;
/// The lowest `--duplicate-jaccard` accepted: below it, calls on one topic start to pair.
inline constexpr double kMinDuplicateJaccard = 0.3;
/// Shingles found in more than this share of the calls (and in more than kBoilerplateCalls calls)
/// are boilerplate, a contact centre's greeting, and are left out of the comparison.
inline constexpr double kBoilerplateShare = 0.01;
inline constexpr size_t kBoilerplateCalls = 50;
/// Calls with fewer shingles left after that are not compared for near-duplicates (exact copies
/// still are).
inline constexpr size_t kMinShingles = 8;
/// Audio: two recordings match when at most this share of their aligned fingerprint bits
/// differ (Haitsma & Kalker 2002 use 0.35 on 3 s blocks; distinct takes of one sentence by one
/// speaker differ in about half).
inline constexpr double kAudioMatchBitErrors = 0.2;
/// Recordings with fewer frames of changing sound (a steady tone, silence) are not compared.
inline constexpr size_t kMinFingerprintFrames = 16;
/// How many of a frame's least reliable bits the lookup flips: each frame of a recording is
/// looked up with every combination of them flipped (2^6 = 64 values; Haitsma & Kalker's soft
/// lookup), since a quiet copy through a telephone codec can keep no frame's 32 bits intact, and
/// the bits it changes are mostly the weak ones.
inline constexpr int kWeakBits = 6;

/// One pair of calls found alike, by text, audio or both.
struct DuplicatePair {
  size_t a = 0;  ///< index into Dataset::calls, a < b
  size_t b = 0;
  std::optional<double> text_jaccard;      ///< Jaccard index of the shingle sets
  std::optional<double> audio_bit_errors;  ///< share of differing fingerprint bits, aligned
};

struct DuplicateOptions {
  bool audio = false;  ///< decode every audio file and compare fingerprints
  int threads = 0;     ///< audio files fingerprinted in parallel; 0 = all cores
  /// Near-duplicate transcripts: shingle-set Jaccard index at least this (`--duplicate-jaccard`).
  double duplicate_jaccard = kNearDuplicateJaccard;
  /// Throws UsageError when duplicate_jaccard lies outside [kMinDuplicateJaccard, 1].
  void validate() const;
};

/// The words a transcript is compared by: ASCII letters and digits lower-cased, every other
/// ASCII byte a separator, bytes of multi-byte UTF-8 characters kept as letters; a
/// whitespace-separated token holding an anonymiser's placeholder (`#EMAIL#`, `[NAME]`,
/// `<PHONE>`, `{{account}}`: brackets or hashes around letters, digits and `_`), an e-mail
/// address (an `@` between word characters) or a URL (`http://`, `https://`, `www.`) becomes the
/// one word kPlaceholderWord, and a run of them one such word: the same chat exported twice,
/// once anonymised and once not, or by two anonymisers, says the same words.
std::vector<std::string> normalized_words(std::string_view text);
inline constexpr const char* kPlaceholderWord = "#";

/// Every pair of calls whose transcripts are identical or near-duplicates (identical shingle sets
/// first; then, without boilerplate, MinHash with banded LSH, 75 hashes in 25 bands of 3, and
/// the exact Jaccard index of each candidate) and,
/// with `options.audio`, every pair whose recordings match (files that cannot be read are
/// skipped: validate's audio checks report them). Sorted by (a, b); one entry per pair.
std::vector<DuplicatePair> find_duplicates(const Dataset& dataset,
                                           const DuplicateOptions& options = {});

/// A coarse spectral fingerprint of a recording, mixed to mono at 8 kHz: per 32 ms frame (64 ms
/// Hann window), 32 bits, each the sign of the change over time of the energy difference of two
/// neighbouring bands among 33 log-spaced bands from 300 to 3400 Hz (Haitsma & Kalker 2002).
/// Unchanged by gain, container, sample format and sample rate (down to 8 kHz); a frame counts
/// as sound by its level inside the bands relative to the recording's own loud and quiet levels,
/// so a quieter copy through a telephone channel keeps the frames of the original. A bit is as
/// reliable as its energy difference's change is far from 0, the value its sign is taken of.
struct AudioFingerprint {
  std::vector<uint32_t> bits;      ///< one word per frame
  std::vector<uint8_t> changing;   ///< 1 where the frame holds sound whose spectrum changes
  std::vector<uint32_t> weak;      ///< per frame, its kWeakBits least reliable bits set
  size_t changing_frames = 0;
};

/// Throws DataError when the file cannot be read.
AudioFingerprint audio_fingerprint(const std::filesystem::path& path);

/// The share of differing bits of `a` and `b` with `b` shifted by `offset` frames, over the
/// frames where both exist and either is changing; 1 when there are none.
double fingerprint_bit_errors(const AudioFingerprint& a, const AudioFingerprint& b,
                              long offset);

/// Disjoint sets of calls (union-find with path halving): `data split` joins calls that share a
/// speaker or are duplicates, `data validate` counts the calls whose group spans two splits.
class CallGroups {
 public:
  explicit CallGroups(size_t calls);
  size_t find(size_t call);
  void join(size_t a, size_t b) { parent_[find(a)] = find(b); }

 private:
  std::vector<size_t> parent_;
};

}  // namespace tenor::data
