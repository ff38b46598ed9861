#include "data/duplicates.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cmath>
#include <iterator>
#include <map>
#include <numbers>
#include <numeric>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "data/audio.h"
#include "data/parallel.h"

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

/// FNV-1a hashes of the call's words: ASCII letters and digits lower-cased, every other ASCII
/// byte a separator, bytes of multi-byte UTF-8 characters kept as letters.
std::vector<uint64_t> word_hashes(const Call& call) {
  constexpr uint64_t kBasis = 0xcbf29ce484222325ULL, kPrime = 0x100000001b3ULL;
  std::vector<uint64_t> words;
  uint64_t h = kBasis;
  bool in_word = false;
  for (const auto& seg : call.segments) {
    if (!seg.text) continue;
    for (unsigned char c : *seg.text) {
      if (c >= 0x80 || std::isalnum(c)) {
        h = (h ^ static_cast<unsigned char>(std::tolower(c))) * kPrime;
        in_word = true;
      } else if (in_word) {
        words.push_back(h), h = kBasis, in_word = false;
      }
    }
    if (in_word) words.push_back(h), h = kBasis, in_word = false;
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

// 25 bands of 3 rows: a pair at Jaccard 0.5 shares a bucket with probability 1 - (1 - 0.5^3)^25
// = 0.96, at 0.6 0.998, at 0.1 0.025 (Leskovec, Rajaraman and Ullman, Mining of Massive
// Datasets, 3.4).
constexpr size_t kBands = 25, kRows = 3, kHashes = kBands * kRows;

/// The 75 MinHash functions h_i(x) = a_i x + b_i (mod 2^64, a_i odd) of already mixed shingle
/// hashes: multiply-add universal hashing (Dietzfelbinger et al. 1997), whose high bits decide
/// the minimum.
struct MinHasher {
  std::array<uint64_t, kHashes> a, b;
  MinHasher() {
    for (size_t i = 0; i < kHashes; ++i) a[i] = mix64(2 * i) | 1, b[i] = mix64(2 * i + 1);
  }

  /// The LSH band keys of a shingle set: 25 bands of 3 minima.
  std::array<uint64_t, kBands> band_keys(const std::vector<uint64_t>& set) const {
    std::array<uint64_t, kHashes> mins;
    mins.fill(~uint64_t{0});
    for (uint64_t x : set)
      for (size_t i = 0; i < kHashes; ++i) mins[i] = std::min(mins[i], a[i] * x + b[i]);
    std::array<uint64_t, kBands> keys;
    for (size_t band = 0; band < kBands; ++band) {
      uint64_t h = band;
      for (size_t r = 0; r < kRows; ++r) h = mix64(h ^ mins[band * kRows + r]);
      keys[band] = h;
    }
    return keys;
  }
};

uint64_t pair_key(size_t a, size_t b) {
  return (uint64_t(std::min(a, b)) << 32) | uint64_t(std::max(a, b));
}

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

/// Near-duplicates among `calls`: pairs that share an LSH bucket in at least one band, kept when
/// the exact Jaccard index of their sets reaches kNearDuplicateJaccard.
void pair_near_copies(const std::vector<size_t>& calls,
                      const std::vector<std::vector<uint64_t>>& sets, int threads,
                      std::vector<DuplicatePair>& pairs) {
  std::vector<size_t> usable;
  for (size_t i : calls)
    if (sets[i].size() >= kMinShingles) usable.push_back(i);
  const MinHasher hasher;
  std::vector<std::array<uint64_t, kBands>> keys(usable.size());
  parallel_for(usable.size(), static_cast<unsigned>(std::max(0, threads)),
               [&](size_t k) { keys[k] = hasher.band_keys(sets[usable[k]]); });
  std::unordered_map<uint64_t, std::vector<size_t>> buckets;
  std::unordered_set<uint64_t> seen;
  for (size_t k = 0; k < usable.size(); ++k) {
    for (uint64_t key : keys[k]) {
      auto& bucket = buckets[key];
      for (size_t other : bucket) {
        const size_t a = usable[other], b = usable[k];
        if (!seen.insert(pair_key(a, b)).second) continue;
        const double j = jaccard(sets[a], sets[b]);
        if (j >= kNearDuplicateJaccard) pairs.push_back({a, b, j, std::nullopt});
      }
      bucket.push_back(k);
    }
  }
}

std::vector<DuplicatePair> text_duplicates(const Dataset& ds, int threads) {
  std::vector<std::vector<uint64_t>> sets(ds.calls.size());
  parallel_for(sets.size(), static_cast<unsigned>(std::max(0, threads)),
               [&](size_t i) { sets[i] = shingles(ds.calls[i]); });
  std::vector<DuplicatePair> pairs;
  const auto distinct = pair_exact_copies(sets, pairs);
  drop_boilerplate(distinct, sets);
  pair_near_copies(distinct, sets, threads, pairs);
  return pairs;
}

// ---- audio --------------------------------------------------------------------------------------

constexpr int kFingerprintRateHz = 8000;
constexpr size_t kFrame = 512, kHop = 256, kBandsAudio = 33;
constexpr double kLowHz = 300, kHighHz = 3400;
constexpr double kSilentMeanSquare = 1e-7;   ///< -70 dBFS: a frame quieter than this is silence
constexpr double kChangingLogEnergy = 0.1;   ///< mean |change| of log band energy, per frame
constexpr double kMinInBandShare = 0.01;     ///< -20 dB: less in the bands is not sound to match

/// Power spectrum |X_k|^2, k < n/2, of a real frame of power-of-two length n, by an iterative
/// radix-2 FFT (Cooley-Tukey) on split real and imaginary arrays with a precomputed twiddle
/// table: std::complex's checked multiplication made this the costliest step of validate.
class PowerSpectrum {
 public:
  explicit PowerSpectrum(size_t n) : n_(n), re_(n), im_(n), cos_(n / 2), sin_(n / 2) {
    for (size_t k = 0; k < n / 2; ++k) {
      cos_[k] = std::cos(2 * std::numbers::pi * double(k) / double(n));
      sin_[k] = -std::sin(2 * std::numbers::pi * double(k) / double(n));
    }
  }

  /// `x` times `window`, transformed; returns |X_k|^2 for k in [0, n/2).
  const std::vector<double>& operator()(const float* x, const std::vector<double>& window) {
    for (size_t i = 0; i < n_; ++i) re_[i] = window[i] * x[i], im_[i] = 0;
    for (size_t i = 1, j = 0; i < n_; ++i) {
      size_t bit = n_ >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) std::swap(re_[i], re_[j]);
    }
    for (size_t len = 2; len <= n_; len <<= 1) {
      const size_t half = len / 2, stride = n_ / len;
      for (size_t i = 0; i < n_; i += len) {
        for (size_t k = 0; k < half; ++k) {
          const double wr = cos_[k * stride], wi = sin_[k * stride];
          const size_t a = i + k, b = a + half;
          const double vr = re_[b] * wr - im_[b] * wi, vi = re_[b] * wi + im_[b] * wr;
          re_[b] = re_[a] - vr, im_[b] = im_[a] - vi;
          re_[a] += vr, im_[a] += vi;
        }
      }
    }
    power_.resize(n_ / 2);
    for (size_t k = 0; k < n_ / 2; ++k) power_[k] = re_[k] * re_[k] + im_[k] * im_[k];
    return power_;
  }

 private:
  size_t n_;
  std::vector<double> re_, im_, cos_, sin_, power_;
};

/// Band energies of one frame, and the frame's mean square.
struct FrameEnergy {
  std::array<double, kBandsAudio> band{};
  std::array<double, kBandsAudio> log_band{};
  double mean_square = 0;
  double in_band_share = 0;  ///< of the spectrum's power, in the 300-3400 Hz bands
};

class Fingerprinter {
 public:
  Fingerprinter() : window_(kFrame), edges_(kBandsAudio + 1) {
    for (size_t i = 0; i < kFrame; ++i)
      window_[i] = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * double(i) / double(kFrame));
    const double bin_hz = double(kFingerprintRateHz) / double(kFrame);
    for (size_t m = 0; m <= kBandsAudio; ++m) {
      const double hz = kLowHz * std::pow(kHighHz / kLowHz, double(m) / double(kBandsAudio));
      edges_[m] = static_cast<size_t>(std::lround(hz / bin_hz));
    }
  }

  void push(const float* x, size_t n) {
    buffer_.insert(buffer_.end(), x, x + n);
    size_t used = 0;
    for (; used + kFrame <= buffer_.size(); used += kHop) frame(buffer_.data() + used);
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<long>(used));
  }

  AudioFingerprint take() { return std::move(out_); }

 private:
  FrameEnergy energy(const float* x) {
    FrameEnergy e;
    for (size_t i = 0; i < kFrame; ++i) e.mean_square += double(x[i]) * x[i];
    e.mean_square /= double(kFrame);
    const auto& power = spectrum_(x, window_);
    for (size_t m = 0; m < kBandsAudio; ++m)
      for (size_t k = edges_[m]; k < edges_[m + 1]; ++k) e.band[m] += power[k];
    double in_band = 0, total = 0;
    for (size_t m = 0; m < kBandsAudio; ++m)
      e.log_band[m] = std::log(e.band[m] + 1e-12), in_band += e.band[m];
    for (size_t k = 1; k < power.size(); ++k) total += power[k];
    e.in_band_share = total > 0 ? in_band / total : 0;
    return e;
  }

  void frame(const float* x) {
    FrameEnergy e = energy(x);
    if (have_previous_) {
      uint32_t bits = 0;
      double change = 0;
      for (size_t m = 0; m < kBandsAudio; ++m) {
        change += std::fabs(e.log_band[m] - previous_.log_band[m]);
        if (m + 1 == kBandsAudio) break;
        const double d = (e.band[m] - e.band[m + 1]) - (previous_.band[m] - previous_.band[m + 1]);
        if (d > 0) bits |= uint32_t{1} << m;
      }
      // Sound: not silence, and mostly inside the bands (a hum below 300 Hz leaves only noise).
      const bool sound = std::min(e.mean_square, previous_.mean_square) > kSilentMeanSquare &&
                         std::min(e.in_band_share, previous_.in_band_share) > kMinInBandShare;
      const bool changing = sound && change / double(kBandsAudio) > kChangingLogEnergy;
      out_.bits.push_back(bits);
      out_.changing.push_back(changing ? 1 : 0);
      out_.changing_frames += changing;
    }
    previous_ = e;
    have_previous_ = true;
  }

  std::vector<double> window_;
  std::vector<size_t> edges_;
  PowerSpectrum spectrum_{kFrame};
  std::vector<float> buffer_;
  FrameEnergy previous_;
  bool have_previous_ = false;
  AudioFingerprint out_;
};

constexpr size_t kMaxPostings = 64;  ///< a frame value in more files than this says nothing

/// Frame value -> (file, frame) of every changing frame of the files indexed so far.
using FrameIndex = std::unordered_map<uint32_t, std::vector<std::pair<size_t, size_t>>>;
/// (earlier file, offset) -> how many changing frames of the file at hand agree exactly.
using Votes = std::map<std::pair<size_t, long>, int>;

/// The alignments worth scoring: offsets at which an earlier fingerprint shares identical
/// changing frames with `p` (Haitsma & Kalker's lookup of exact sub-fingerprint matches).
Votes vote_offsets(const AudioFingerprint& p, const FrameIndex& index) {
  Votes votes;
  for (size_t t = 0; t < p.bits.size(); ++t) {
    if (!p.changing[t]) continue;
    auto it = index.find(p.bits[t]);
    if (it == index.end() || it->second.size() > kMaxPostings) continue;
    for (const auto& [g, u] : it->second) ++votes[{g, long(u) - long(t)}];
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
  for (const auto& p : text_duplicates(dataset, options.threads))
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

CallGroups::CallGroups(size_t calls) : parent_(calls) {
  std::iota(parent_.begin(), parent_.end(), size_t{0});
}

size_t CallGroups::find(size_t x) {
  while (parent_[x] != x) x = parent_[x] = parent_[parent_[x]];
  return x;
}

}  // namespace tenor::data
