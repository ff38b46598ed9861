#include "data/duplicates.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cmath>
#include <iterator>
#include <map>
#include <numeric>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/text.h"
#include "data/audio.h"
#include "data/parallel.h"
#include "data/spectrum.h"

namespace tenor::data {
namespace fs = std::filesystem;
namespace {

// ---- text ---------------------------------------------------------------------------------------

/// SplitMix64's finaliser (Steele, Lea and Flood 2014): a cheap, well-mixed 64-bit hash.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

bool word_byte(unsigned char c) { return c >= 0x80 || std::isalnum(c); }

bool starts_with_nocase(std::string_view token, std::string_view prefix) {
  if (token.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(token[i])) != prefix[i]) return false;
  return true;
}

/// Whether a whitespace-free token stands for something an export may write differently: an
/// anonymiser's placeholder or transcriber's tag (an opener among # [ < {, letters, digits or _,
/// its closer), an e-mail address or a URL.
bool is_placeholder(std::string_view token) {
  if (starts_with_nocase(token, "http://") || starts_with_nocase(token, "https://") ||
      starts_with_nocase(token, "www."))
    return true;
  for (size_t i = 1; i + 1 < token.size(); ++i)
    if (token[i] == '@' && word_byte(token[i - 1]) && word_byte(token[i + 1])) return true;
  auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (size_t i = 0; i < token.size(); ++i) {
    const char open = token[i];
    const char close = open == '#'   ? '#'
                       : open == '[' ? ']'
                       : open == '<' ? '>'
                       : open == '{' ? '}'
                                     : 0;
    if (close == 0) continue;
    size_t j = i + 1;
    while (open == '{' && j < token.size() && token[j] == '{') ++j;  // {{name}}
    size_t k = j;
    while (k < token.size() && name_char(token[k])) ++k;
    if (k > j && k < token.size() && token[k] == close) return true;
    i = k - 1;  // no opener inside [i + 1, k): each byte is looked at once or twice
  }
  return false;
}

/// Calls `fn(word)` for every normalised word of `text` (normalized_words); `after_placeholder`
/// carries a run of placeholders from one text to the next.
template <class Fn>
void each_word(std::string_view text, bool& after_placeholder, Fn&& fn) {
  std::string word;
  for (size_t i = 0; i < text.size();) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    size_t end = i;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
    const std::string_view token = text.substr(i, end - i);
    i = end;
    if (token.empty()) continue;
    if (is_placeholder(token)) {
      if (!after_placeholder) fn(std::string_view(kPlaceholderWord));
      after_placeholder = true;
      continue;
    }
    for (size_t k = 0; k <= token.size(); ++k) {
      const auto c = k < token.size() ? static_cast<unsigned char>(token[k]) : 0;
      if (k < token.size() && word_byte(c)) {
        word += static_cast<char>(std::tolower(c));
      } else if (!word.empty()) {
        fn(std::string_view(word));
        word.clear();
        after_placeholder = false;
      }
    }
  }
}

/// FNV-1a hashes of the call's normalised words, its segments' texts in order.
std::vector<uint64_t> word_hashes(const Call& call) {
  constexpr uint64_t kBasis = 0xcbf29ce484222325ULL, kPrime = 0x100000001b3ULL;
  std::vector<uint64_t> words;
  bool after_placeholder = false;
  for (const auto& seg : call.segments) {
    if (!seg.text) continue;
    each_word(*seg.text, after_placeholder, [&](std::string_view word) {
      uint64_t h = kBasis;
      for (unsigned char c : word) h = (h ^ c) * kPrime;
      words.push_back(h);
    });
  }
  return words;
}

/// The sorted, distinct word 3-gram hashes of a call; empty below kMinDuplicateWords words.
std::vector<uint64_t> shingles(const Call& call) {
  const auto words = word_hashes(call);
  std::vector<uint64_t> out;
  if (words.size() < kMinDuplicateWords) return out;
  for (size_t i = 0; i + kShingleWords <= words.size(); ++i) {
    uint64_t h = 0;
    for (size_t k = 0; k < kShingleWords; ++k) h = mix64(h ^ words[i + k]);
    out.push_back(h);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

double jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  size_t common = 0;
  for (size_t i = 0, j = 0; i < a.size() && j < b.size();) {
    if (a[i] == b[j]) {
      ++common, ++i, ++j;
    } else if (a[i] < b[j]) {
      ++i;
    } else {
      ++j;
    }
  }
  const size_t all = a.size() + b.size() - common;
  return all == 0 ? 0.0 : double(common) / double(all);
}

// 75 MinHash values in 25 bands of 3 rows: a pair at Jaccard 0.5 shares a bucket with
// probability 1 - (1 - 0.5^3)^25 = 0.96, at 0.6 0.998, at 0.1 0.025 (Leskovec, Rajaraman and
// Ullman, Mining of Massive Datasets, 3.4). Below a threshold of 0.5, 37 bands of 2 rows: at 0.3
// 1 - (1 - 0.3^2)^37 = 0.97.
constexpr size_t kHashes = 75;

size_t band_rows(double threshold) { return threshold >= 0.5 ? 3 : 2; }

/// The 75 MinHash functions h_i(x) = a_i x + b_i (mod 2^64, a_i odd) of already mixed shingle
/// hashes: multiply-add universal hashing (Dietzfelbinger et al. 1997), whose high bits decide
/// the minimum.
struct MinHasher {
  std::array<uint64_t, kHashes> a, b;
  MinHasher() {
    for (size_t i = 0; i < kHashes; ++i) a[i] = mix64(2 * i) | 1, b[i] = mix64(2 * i + 1);
  }

  /// The LSH band keys of a shingle set: kHashes / rows bands of `rows` minima.
  std::vector<uint64_t> band_keys(const std::vector<uint64_t>& set, size_t rows) const {
    std::array<uint64_t, kHashes> mins;
    mins.fill(~uint64_t{0});
    for (uint64_t x : set)
      for (size_t i = 0; i < kHashes; ++i) mins[i] = std::min(mins[i], a[i] * x + b[i]);
    std::vector<uint64_t> keys(kHashes / rows);
    for (size_t band = 0; band < keys.size(); ++band) {
      uint64_t h = band;
      for (size_t r = 0; r < rows; ++r) h = mix64(h ^ mins[band * rows + r]);
      keys[band] = h;
    }
    return keys;
  }
};

/// Calls with identical shingle sets pair with the first of them (Jaccard 1), so a chat
/// exported a thousand times costs one entry in what follows. Returns the calls with a set seen
/// for the first time.
std::vector<size_t> pair_exact_copies(const std::vector<std::vector<uint64_t>>& sets,
                                      std::vector<DuplicatePair>& pairs) {
  std::unordered_map<uint64_t, size_t> first_with_set;
  std::vector<size_t> distinct;
  for (size_t i = 0; i < sets.size(); ++i) {
    if (sets[i].empty()) continue;
    uint64_t h = sets[i].size();
    for (uint64_t x : sets[i]) h = mix64(h ^ x);
    auto [it, fresh] = first_with_set.emplace(h, i);
    if (fresh || sets[it->second] != sets[i]) {
      distinct.push_back(i);
    } else {
      pairs.push_back({it->second, i, 1.0, std::nullopt});
    }
  }
  return distinct;
}

/// Removes boilerplate from the sets of `calls`: shingles found in more than
/// kBoilerplateShare of them (and in at least kBoilerplateCalls), such as a contact centre's
/// greeting, say nothing about which calls are copies (Broder's filtering of common shingles).
void drop_boilerplate(const std::vector<size_t>& calls, std::vector<std::vector<uint64_t>>& sets) {
  if (calls.size() <= kBoilerplateCalls) return;  // no shingle can be in more calls than that
  std::vector<uint64_t> all;
  for (size_t i : calls) all.insert(all.end(), sets[i].begin(), sets[i].end());
  std::sort(all.begin(), all.end());
  const size_t limit = std::max<size_t>(
      kBoilerplateCalls, static_cast<size_t>(kBoilerplateShare * double(calls.size())));
  std::vector<uint64_t> common;
  for (size_t i = 0, j; i < all.size(); i = j) {
    for (j = i; j < all.size() && all[j] == all[i];) ++j;
    if (j - i > limit) common.push_back(all[i]);
  }
  if (common.empty()) return;
  for (size_t i : calls) {
    auto& set = sets[i];
    std::vector<uint64_t> kept;
    std::set_difference(set.begin(), set.end(), common.begin(), common.end(),
                        std::back_inserter(kept));
    set = std::move(kept);
  }
}

/// Calls that share an LSH bucket and are already joined (directly or through other calls)
/// need no comparison: each bucket keeps one call per group, so a set of a thousand near copies
/// costs a thousand comparisons, not half a million, and yields as many pairs as calls.
void compare_in_bucket(size_t k, std::vector<size_t>& bucket, const std::vector<size_t>& usable,
                       const std::vector<std::vector<uint64_t>>& sets, double threshold,
                       CallGroups& groups, std::vector<DuplicatePair>& pairs) {
  std::vector<size_t> kept, roots;
  for (size_t other : bucket) {
    const size_t root = groups.find(other);
    if (std::find(roots.begin(), roots.end(), root) != roots.end()) continue;  // group seen
    roots.push_back(root);
    kept.push_back(other);
    if (groups.find(other) == groups.find(k)) continue;
    const size_t a = usable[other], b = usable[k];
    const double j = jaccard(sets[a], sets[b]);
    if (j >= threshold) pairs.push_back({a, b, j, std::nullopt}), groups.join(other, k);
  }
  kept.push_back(k);
  bucket = std::move(kept);
}

/// Near-duplicates among `calls`: pairs that share an LSH bucket in at least one band, kept when
/// the exact Jaccard index of their sets reaches `threshold`; enough pairs to connect every
/// group of near copies.
void pair_near_copies(const std::vector<size_t>& calls,
                      const std::vector<std::vector<uint64_t>>& sets, double threshold,
                      int threads, std::vector<DuplicatePair>& pairs) {
  std::vector<size_t> usable;
  for (size_t i : calls)
    if (sets[i].size() >= kMinShingles) usable.push_back(i);
  const MinHasher hasher;
  const size_t rows = band_rows(threshold);
  std::vector<std::vector<uint64_t>> keys(usable.size());
  parallel_for(usable.size(), static_cast<unsigned>(std::max(0, threads)),
               [&](size_t k) { keys[k] = hasher.band_keys(sets[usable[k]], rows); });
  std::unordered_map<uint64_t, std::vector<size_t>> buckets;
  CallGroups groups(usable.size());
  for (size_t k = 0; k < usable.size(); ++k)
    for (uint64_t key : keys[k])
      compare_in_bucket(k, buckets[key], usable, sets, threshold, groups, pairs);
}

std::vector<DuplicatePair> text_duplicates(const Dataset& ds, double threshold, int threads) {
  std::vector<std::vector<uint64_t>> sets(ds.calls.size());
  parallel_for(sets.size(), static_cast<unsigned>(std::max(0, threads)),
               [&](size_t i) { sets[i] = shingles(ds.calls[i]); });
  std::vector<DuplicatePair> pairs;
  const auto distinct = pair_exact_copies(sets, pairs);
  drop_boilerplate(distinct, sets);
  pair_near_copies(distinct, sets, threshold, threads, pairs);
  return pairs;
}

// ---- audio --------------------------------------------------------------------------------------

constexpr int kFingerprintRateHz = 8000;
constexpr size_t kFrame = 512, kHop = 256, kBandsAudio = 33;
constexpr double kLowHz = 300, kHighHz = 3400;
/// Sound is judged by a frame's power inside the bands against the recording's own loud level
/// (the kLoudQuantile of its frames' in-band power), not against a fixed level: a copy that is
/// quieter or band-limited (a telephone channel drops what speech has below 300 Hz, most of a
/// quiet recording's power) keeps the original's frames. Sound lies within kSoundRangeDb of
/// that level (below it lie the background and a codec's noise floor: mu-law's is 35-40 dB
/// under the speech of a quiet recording) and above kSilentInBand (-90 dBFS: digital silence,
/// dither, a quiet line's hiss).
constexpr double kSoundRangeDb = 30;
constexpr double kLoudQuantile = 0.99;
constexpr double kSilentInBand = 1e-9;
constexpr double kChangingLogEnergy = 0.1;   ///< mean |change| of log band energy, per frame
constexpr double kMinInBandShare = 0.01;     ///< -20 dB: less in the bands is not sound to match

/// Log band energies of a frame, for the change between frames.
using LogBands = std::array<double, kBandsAudio>;
/// Per bit of a frame, |the change of its energy difference|: how far it lies from flipping.
using Margins = std::array<double, kBandsAudio - 1>;

/// The kWeakBits bits of smallest margin: a bit whose energy difference changed little lies near
/// the threshold and is the likeliest to flip under a codec or noise (Haitsma & Kalker 2002 rank
/// a sub-fingerprint's bits by this reliability to choose which to flip in their lookup).
uint32_t weakest_bits(const Margins& margin) {
  std::array<uint8_t, kBandsAudio - 1> order;
  std::iota(order.begin(), order.end(), uint8_t{0});
  std::partial_sort(order.begin(), order.begin() + kWeakBits, order.end(),
                    [&](uint8_t x, uint8_t y) { return margin[x] < margin[y]; });
  uint32_t mask = 0;
  for (int k = 0; k < kWeakBits; ++k) mask |= uint32_t{1} << order[size_t(k)];
  return mask;
}

/// Haitsma and Kalker's fingerprint, streamed: samples arrive in blocks, frames are analysed
/// kBatchFrames at a time (data/spectrum.h): beyond one batch, memory holds 17 bytes a frame.
class Fingerprinter {
 public:
  Fingerprinter() : edges_(kBandsAudio + 1) {
    const double bin_hz = double(kFingerprintRateHz) / double(kFrame);
    for (size_t m = 0; m <= kBandsAudio; ++m) {
      const double hz = kLowHz * std::pow(kHighHz / kLowHz, double(m) / double(kBandsAudio));
      edges_[m] = static_cast<size_t>(std::lround(hz / bin_hz));
    }
  }

  void push(const float* x, size_t n) {
    buffer_.insert(buffer_.end(), x, x + n);
    if (buffer_.size() >= kFrame + (kBatchFrames - 1) * kHop) analyse();
  }

  AudioFingerprint take() {
    analyse();
    gate_quiet_frames();
    return std::move(out_);
  }

 private:
  static constexpr size_t kBatchFrames = 1024;  ///< 33 s at 8 kHz

  /// Every whole frame in the buffer; keeps the samples the next frame needs.
  void analyse() {
    const auto bands = frame_band_power(buffer_.data(), buffer_.size(), kFrame, kHop, edges_);
    for (size_t t = 0; t < bands.frames; ++t) frame(bands, t);
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<long>(bands.frames * kHop));
  }

  void frame(const FrameBandPower& fb, size_t t) {
    const double* band = &fb.power[t * kBandsAudio];
    LogBands log_band;
    for (size_t m = 0; m < kBandsAudio; ++m) log_band[m] = std::log(band[m] + 1e-12);
    const double in_band = fb.mean_square[t] * fb.in_band_share[t];
    if (have_previous_) {
      uint32_t bits = 0;
      double change = 0;
      Margins margin{};
      for (size_t m = 0; m < kBandsAudio; ++m) {
        change += std::fabs(log_band[m] - previous_log_[m]);
        if (m + 1 == kBandsAudio) break;
        const double d = (band[m] - band[m + 1]) - (previous_[m] - previous_[m + 1]);
        if (d > 0) bits |= uint32_t{1} << m;
        margin[m] = std::fabs(d);
      }
      // Sound with a changing spectrum, mostly inside the bands (a hum below 300 Hz leaves only
      // noise there); whether it is loud enough is decided in take(), against the whole file.
      const bool changing = std::min(fb.in_band_share[t], previous_share_) > kMinInBandShare &&
                            change / double(kBandsAudio) > kChangingLogEnergy;
      out_.bits.push_back(bits);
      out_.weak.push_back(weakest_bits(margin));
      out_.changing.push_back(changing ? 1 : 0);
      in_band_.push_back(std::min(in_band, previous_in_band_));
    }
    std::copy(band, band + kBandsAudio, previous_.begin());
    previous_log_ = log_band;
    previous_in_band_ = in_band;
    previous_share_ = fb.in_band_share[t];
    have_previous_ = true;
  }

  /// Frames more than kSoundRangeDb under the recording's loud level are not sound.
  void gate_quiet_frames() {
    if (in_band_.empty()) return;
    const double floor =
        std::max(kSilentInBand, quantile(kLoudQuantile) * std::pow(10.0, -kSoundRangeDb / 10));
    for (size_t t = 0; t < in_band_.size(); ++t) {
      out_.changing[t] = out_.changing[t] && in_band_[t] > floor;
      out_.changing_frames += out_.changing[t];
    }
  }

  double quantile(double q) const {
    std::vector<double> sorted = in_band_;
    const auto at = sorted.begin() + long(q * double(sorted.size() - 1));
    std::nth_element(sorted.begin(), at, sorted.end());
    return *at;
  }

  std::vector<size_t> edges_;
  std::vector<float> buffer_;
  std::array<double, kBandsAudio> previous_{};
  LogBands previous_log_{};
  double previous_in_band_ = 0, previous_share_ = 0;
  std::vector<double> in_band_;  ///< per fingerprint frame: the in-band power of its quieter frame
  bool have_previous_ = false;
  AudioFingerprint out_;
};

constexpr size_t kMaxPostings = 64;  ///< a frame value in more files than this says nothing

/// Frame value -> (file, frame) of every changing frame of the files indexed so far.
using FrameIndex = std::unordered_map<uint32_t, std::vector<std::pair<size_t, size_t>>>;
/// (earlier file, offset) -> how many changing frames of the file at hand agree, exactly or but
/// for some of their weak bits.
using Votes = std::map<std::pair<size_t, long>, int>;

/// The alignments worth scoring: offsets at which changing frames of an earlier fingerprint
/// equal changing frames of `p`, each looked up as it is and with every combination of its weak
/// bits flipped (Haitsma & Kalker's lookup, with their soft-decoding remedy for copies that keep
/// no frame intact). A frame of `p` votes once per frame it equals: the values it is looked up by
/// are distinct.
Votes vote_offsets(const AudioFingerprint& p, const FrameIndex& index) {
  Votes votes;
  for (size_t t = 0; t < p.bits.size(); ++t) {
    if (!p.changing[t]) continue;
    const uint32_t weak = p.weak[t];
    for (uint32_t flip = weak;; flip = (flip - 1) & weak) {  // every subset of the weak bits
      auto it = index.find(p.bits[t] ^ flip);
      if (it != index.end() && it->second.size() <= kMaxPostings)
        for (const auto& [g, u] : it->second) ++votes[{g, long(u) - long(t)}];
      if (flip == 0) break;
    }
  }
  return votes;
}

/// The bit errors of `q` against `p` at `offset` (q's frame u is p's frame u - offset) when the
/// overlap covers 80 % of the shorter one; 1 otherwise.
double aligned_bit_errors(const AudioFingerprint& p, const AudioFingerprint& q, long offset) {
  const long overlap = std::min<long>(long(p.bits.size()), long(q.bits.size()) - offset) -
                       std::max<long>(0, -offset);
  const double shorter = double(std::min(p.bits.size(), q.bits.size()));
  return overlap < 0.8 * shorter ? 1.0 : fingerprint_bit_errors(p, q, offset);
}

struct AudioMatch {
  size_t earlier = 0, later = 0;  ///< file indices
  double bit_errors = 1;
};

std::vector<AudioMatch> audio_matches(const std::vector<AudioFingerprint>& prints) {
  FrameIndex index;
  std::vector<AudioMatch> matches;
  for (size_t f = 0; f < prints.size(); ++f) {
    const auto& p = prints[f];
    if (p.changing_frames < kMinFingerprintFrames) continue;
    std::set<size_t> matched;
    for (const auto& [key, count] : vote_offsets(p, index)) {
      const auto& [g, offset] = key;
      if (count < 2 || matched.count(g)) continue;
      const double errors = aligned_bit_errors(p, prints[g], offset);
      if (errors <= kAudioMatchBitErrors) matched.insert(g), matches.push_back({g, f, errors});
    }
    for (size_t t = 0; t < p.bits.size(); ++t)
      if (p.changing[t]) index[p.bits[t]].emplace_back(f, t);
  }
  return matches;
}

/// Audio pairs: each distinct file fingerprinted once; files that match form groups (through
/// other files too), and the first call of a group's first file pairs with every call of the
/// group's other files: as many pairs as calls, however many files match. Calls sharing one file
/// are not paired with each other.
std::vector<DuplicatePair> audio_duplicates(const Dataset& ds, int threads) {
  std::map<std::string, std::vector<size_t>> calls_by_file;
  for (size_t i = 0; i < ds.calls.size(); ++i)
    if (!ds.calls[i].audio.empty()) calls_by_file[ds.calls[i].audio].push_back(i);
  std::vector<const std::vector<size_t>*> users;
  std::vector<std::string> files;
  for (const auto& [file, calls] : calls_by_file) files.push_back(file), users.push_back(&calls);
  std::vector<AudioFingerprint> prints(files.size());
  parallel_for(files.size(), static_cast<unsigned>(std::max(0, threads)), [&](size_t i) {
    if (!path_stays_inside(files[i])) return;
    try {
      prints[i] = audio_fingerprint(ds.root / files[i]);
    } catch (const Error&) {
      // validate's audio checks report the file; an unreadable file has no fingerprint
    }
  });
  CallGroups file_groups(files.size());
  std::vector<double> errors(files.size(), 1.0);  // of the match that brought the file in
  for (const auto& m : audio_matches(prints)) {
    file_groups.join(m.later, m.earlier);
    errors[m.later] = std::min(errors[m.later], m.bit_errors);
  }
  std::map<size_t, size_t> first_file;  // group -> its first file
  std::vector<DuplicatePair> pairs;
  for (size_t f = 0; f < files.size(); ++f) {
    auto [it, fresh] = first_file.emplace(file_groups.find(f), f);
    if (fresh) continue;
    const size_t center = users[it->second]->front();
    for (size_t c : *users[f])
      pairs.push_back({std::min(center, c), std::max(center, c), std::nullopt, errors[f]});
  }
  return pairs;
}

}  // namespace

AudioFingerprint audio_fingerprint(const fs::path& path) {
  AudioReader reader(path);
  Fingerprinter printer;
  reader.read_blocks(0, reader.info().duration_s(), -1, kFingerprintRateHz,
                     [&](const float* x, size_t n) { printer.push(x, n); });
  return printer.take();
}

double fingerprint_bit_errors(const AudioFingerprint& a, const AudioFingerprint& b, long offset) {
  size_t bits = 0, differ = 0;
  for (long t = std::max<long>(0, -offset); t < long(a.bits.size()); ++t) {
    const long u = t + offset;
    if (u >= long(b.bits.size())) break;
    if (!a.changing[size_t(t)] && !b.changing[size_t(u)]) continue;
    bits += 32;
    differ += size_t(std::popcount(a.bits[size_t(t)] ^ b.bits[size_t(u)]));
  }
  return bits == 0 ? 1.0 : double(differ) / double(bits);
}

std::vector<DuplicatePair> find_duplicates(const Dataset& dataset,
                                           const DuplicateOptions& options) {
  std::map<std::pair<size_t, size_t>, DuplicatePair> merged;
  options.validate();
  for (const auto& p : text_duplicates(dataset, options.duplicate_jaccard, options.threads))
    merged[{std::min(p.a, p.b), std::max(p.a, p.b)}] = p;
  if (options.audio) {
    for (const auto& p : audio_duplicates(dataset, options.threads)) {
      auto [it, fresh] = merged.try_emplace({p.a, p.b}, p);
      if (!fresh) {
        auto& known = it->second.audio_bit_errors;
        known = known ? std::min(*known, *p.audio_bit_errors) : p.audio_bit_errors;
      }
    }
  }
  std::vector<DuplicatePair> out;
  out.reserve(merged.size());
  for (auto& [key, p] : merged) {
    p.a = key.first, p.b = key.second;
    out.push_back(p);
  }
  return out;
}

void DuplicateOptions::validate() const {
  if (!(duplicate_jaccard >= kMinDuplicateJaccard && duplicate_jaccard <= 1))
    throw UsageError("--duplicate-jaccard must lie between " + format_number(kMinDuplicateJaccard) +
                     " and 1, not " + format_number(duplicate_jaccard) +
                     "; below it calls on one topic pair up as copies");
}

std::vector<std::string> normalized_words(std::string_view text) {
  std::vector<std::string> out;
  bool after_placeholder = false;
  each_word(text, after_placeholder, [&](std::string_view word) { out.emplace_back(word); });
  return out;
}

CallGroups::CallGroups(size_t calls) : parent_(calls) {
  std::iota(parent_.begin(), parent_.end(), size_t{0});
}

size_t CallGroups::find(size_t x) {
  while (parent_[x] != x) x = parent_[x] = parent_[parent_[x]];
  return x;
}

}  // namespace tenor::data
