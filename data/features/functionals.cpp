#include "data/features/functionals.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace tenor::features {
namespace {

// Definitions cited below:
//   [E16] Eyben et al. 2016, "The Geneva Minimalistic Acoustic Parameter Set (GeMAPS)",
//         IEEE TAC 7(2): functionals mean, coefficient of variation (stddevNorm), 20/50/80th
//         percentiles, range 20-80, mean/std of rising and falling slopes, rates and lengths
//         of voiced/unvoiced regions, loudness peaks per second; F0 in semitones re 27.5 Hz.
//   [DW09] de Jong & Wempe 2009, "Praat script to detect syllable nuclei and measure speech
//         rate automatically", Behavior Research Methods 41(2): intensity peaks that are
//         voiced, above a threshold and preceded by a dip of at least 2 dB.

/// LLDs summarised with mean and coefficient of variation; `voiced_only` ones use voiced frames.
struct Summarised {
  const char* column;
  const char* name;
  bool voiced_only;
  bool full;  ///< also percentiles, range and slopes (F0 and loudness, as eGeMAPS)
};

const std::vector<Summarised>& summarised() {
  static const std::vector<Summarised> kList = {
      {"f0_hz", "f0_st", true, true},
      {"loudness", "loudness", false, true},
      {"intensity_db", "intensity_db", false, false},
      {"hnr_db", "hnr_db", true, false},
      {"jitter_local", "jitter_local", true, false},
      {"shimmer_local", "shimmer_local", true, false},
      {"mfcc_1", "mfcc_1", false, false},
      {"mfcc_2", "mfcc_2", false, false},
      {"mfcc_3", "mfcc_3", false, false},
      {"mfcc_4", "mfcc_4", false, false},
      {"spectral_flux", "spectral_flux", false, false},
      {"alpha_ratio_db", "alpha_ratio_db", false, false},
      {"hammarberg_db", "hammarberg_db", false, false},
      {"slope_0_500_db_per_khz", "slope_0_500", false, false},
      {"slope_500_1500_db_per_khz", "slope_500_1500", false, false},
  };
  return kList;
}

/// A temporal functional and the LLD whose level mark it takes ("" for none).
struct Temporal {
  const char* name;
  const char* level_source;
};

// loudness_peaks_per_s counts local maxima of the loudness contour, which a gain does not
// move; it takes loudness's mark all the same because normalize_loudness has hidden it
// since the option exists (tenor-func-1 runs were trained so). Dropping the mark changes
// the models of such runs: do it with a new functionals version.
const std::vector<Temporal> kTemporal = {
    {"voiced_share", ""},           {"voiced_regions_per_s", ""},
    {"voiced_region_mean_s", ""},   {"voiced_region_std_s", ""},
    {"unvoiced_region_mean_s", ""}, {"unvoiced_region_std_s", ""},
    {"loudness_peaks_per_s", "loudness"},
};
const std::vector<std::string> kConversation = {
    "duration_s",
    "syllables",
    "syllables_from_text",
    "speaking_rate_syl_per_s",
    "articulation_rate_syl_per_s",
    "pause_count",
    "pause_share",
    "pause_mean_s",
    "gap_to_other_s",
    "overlap_with_other_s",
};

bool has_column(const LldTable& t, const char* name) {
  return std::find(t.columns.begin(), t.columns.end(), name) != t.columns.end();
}

/// Linear-interpolated percentile of a sorted vector (numpy's default).
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  double pos = q * double(sorted.size() - 1);
  size_t i = size_t(pos);
  double frac = pos - double(i);
  return i + 1 < sorted.size() ? sorted[i] + frac * (sorted[i + 1] - sorted[i]) : sorted[i];
}

struct MeanStd {
  double mean = 0, std = 0;
  size_t n = 0;
};

MeanStd mean_std(const std::vector<double>& v) {
  MeanStd m;
  m.n = v.size();
  if (v.empty()) return m;
  for (double x : v) m.mean += x;
  m.mean /= double(v.size());
  for (double x : v) m.std += (x - m.mean) * (x - m.mean);
  m.std = std::sqrt(m.std / double(v.size()));
  return m;
}

/// Output row under construction: keeps values finite and masks in step with names.
struct Row {
  std::vector<float>& values;
  std::vector<uint8_t>& mask;
  void put(double v, bool defined) {
    bool ok = defined && std::isfinite(v);
    values.push_back(ok ? float(v) : 0.0f);
    mask.push_back(ok ? 1 : 0);
  }
};

/// Lengths (s) of runs where `flag` equals `value`.
std::vector<double> run_lengths(const std::vector<bool>& flag, bool value, double hop_s) {
  std::vector<double> runs;
  size_t n = 0;
  for (size_t i = 0; i <= flag.size(); ++i) {
    if (i < flag.size() && flag[i] == value) {
      ++n;
    } else if (n) {
      runs.push_back(double(n) * hop_s);
      n = 0;
    }
  }
  return runs;
}

}  // namespace

std::vector<FunctionalColumn> functional_columns(const std::vector<LldColumn>& lld) {
  auto source = [&](const std::string& name) {
    return std::find_if(lld.begin(), lld.end(), [&](const LldColumn& c) { return c.name == name; });
  };
  std::vector<FunctionalColumn> out;
  for (const auto& s : summarised()) {
    const auto it = source(s.column);
    if (it == lld.end()) continue;
    const bool level = it->level_dependent;
    out.push_back({std::string(s.name) + "_mean", level});
    out.push_back({std::string(s.name) + "_cv", false});  // std / |mean|: scale-free
    if (s.full) {
      for (const char* f :
           {"_p20", "_p50", "_p80", "_range_20_80", "_rising_slope_mean", "_falling_slope_mean"})
        out.push_back({std::string(s.name) + f, level});
    }
  }
  for (const auto& t : kTemporal) {
    const auto it = source(t.level_source);
    out.push_back({t.name, it != lld.end() && it->level_dependent});
  }
  for (const auto& n : kConversation) out.push_back({n, false});
  return out;
}

std::vector<std::string> functional_names(const LldTable& layout) {
  std::vector<LldColumn> lld;
  for (const auto& c : layout.columns) lld.push_back({c, false});
  std::vector<std::string> names;
  for (auto& c : functional_columns(lld)) names.push_back(std::move(c.name));
  return names;
}

int count_syllables(const std::string& text) {
  int total = 0;
  size_t i = 0;
  auto is_vowel = [](char c) {
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
  };
  while (i < text.size()) {
    // One word: letters and apostrophes.
    std::string word;
    while (i < text.size() &&
           (std::isalpha(static_cast<unsigned char>(text[i])) || text[i] == '\'')) {
      word += char(std::tolower(static_cast<unsigned char>(text[i])));
      ++i;
    }
    if (!word.empty()) {
      int groups = 0;
      bool prev = false;
      for (char c : word) {
        bool v = is_vowel(c);
        groups += v && !prev;
        prev = v;
      }
      // A final silent 'e' ("make"), but not "-le" ("table") or a lone vowel group.
      if (groups > 1 && word.size() > 2 && word.back() == 'e' && word[word.size() - 2] != 'l' &&
          !is_vowel(word[word.size() - 2]))
        --groups;
      total += std::max(1, groups);
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(text[i])))
      ++total;  // "42" read digit by digit, roughly
    ++i;
  }
  return total;
}

void segment_functionals(const LldTable& frames, const SegmentInfo& info,
                         const FunctionalsConfig& config, std::vector<float>& values,
                         std::vector<uint8_t>& mask) {
  Row row{values, mask};
  const int64_t n = frames.frames();
  const double hop_s = n > 1 ? frames.time_s[1] - frames.time_s[0] : 0.01;
  const size_t voiced_col = frames.column("voiced");
  std::vector<bool> voiced(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) voiced[size_t(k)] = frames.at(k, voiced_col) > 0.5f;

  for (const auto& s : summarised()) {
    if (!has_column(frames, s.column)) continue;
    const size_t col = frames.column(s.column);
    const bool is_f0 = std::string(s.column) == "f0_hz";
    // The contour (NaN where the frame does not count) and its defined values.
    std::vector<double> contour(static_cast<size_t>(n), NAN), defined;
    for (int64_t k = 0; k < n; ++k) {
      if (s.voiced_only && !voiced[size_t(k)]) continue;
      double v = frames.at(k, col);
      if (is_f0) {
        if (v <= 0) continue;
        v = 12.0 * std::log2(v / 27.5);  // semitones re 27.5 Hz [E16]
      }
      contour[size_t(k)] = v;
      defined.push_back(v);
    }
    MeanStd m = mean_std(defined);
    row.put(m.mean, m.n > 0);
    row.put(m.std / std::fabs(m.mean), m.n > 1 && std::fabs(m.mean) > 1e-9);  // stddevNorm [E16]
    if (!s.full) continue;
    std::sort(defined.begin(), defined.end());
    double p20 = percentile(defined, 0.2), p50 = percentile(defined, 0.5),
           p80 = percentile(defined, 0.8);
    row.put(p20, !defined.empty());
    row.put(p50, !defined.empty());
    row.put(p80, !defined.empty());
    row.put(p80 - p20, !defined.empty());
    // Slopes between consecutive defined frames, per second [E16]: rising and falling parts.
    std::vector<double> rising, falling;
    for (size_t k = 1; k < contour.size(); ++k) {
      if (std::isnan(contour[k]) || std::isnan(contour[k - 1])) continue;
      double d = (contour[k] - contour[k - 1]) / hop_s;
      if (d > 0) rising.push_back(d);
      if (d < 0) falling.push_back(-d);
    }
    MeanStd r = mean_std(rising), f = mean_std(falling);
    row.put(r.mean, r.n > 0);
    row.put(f.mean, f.n > 0);
  }

  // Temporal functionals [E16].
  const double duration = info.end_s - info.start_s;
  const double frames_s = double(n) * hop_s;
  size_t voiced_frames = size_t(std::count(voiced.begin(), voiced.end(), true));
  auto v_runs = run_lengths(voiced, true, hop_s), u_runs = run_lengths(voiced, false, hop_s);
  MeanStd vr = mean_std(v_runs), ur = mean_std(u_runs);
  row.put(n ? double(voiced_frames) / double(n) : 0, n > 0);
  row.put(frames_s > 0 ? double(v_runs.size()) / frames_s : 0, n > 0);
  row.put(vr.mean, vr.n > 0);
  row.put(vr.std, vr.n > 1);
  row.put(ur.mean, ur.n > 0);
  row.put(ur.std, ur.n > 1);
  const bool has_loudness = has_column(frames, "loudness");
  size_t loud_peaks = 0;
  if (has_loudness) {
    const size_t lc = frames.column("loudness");
    for (int64_t k = 1; k + 1 < n; ++k)
      loud_peaks +=
          frames.at(k, lc) > frames.at(k - 1, lc) && frames.at(k, lc) >= frames.at(k + 1, lc);
  }
  row.put(frames_s > 0 ? double(loud_peaks) / frames_s : 0, has_loudness && n > 2);

  // Pauses: runs of frames at least `pause_below_peak_db` below the segment's 95th
  // intensity percentile, lasting `pause_min_ms`, inside the segment (leading and
  // trailing silence is not a pause). Energy-based, so unvoiced consonants are not pauses.
  const size_t ic = frames.column("intensity_db");
  std::vector<double> intensity(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) intensity[size_t(k)] = frames.at(k, ic);
  std::vector<double> sorted = intensity;
  std::sort(sorted.begin(), sorted.end());
  const double loud = percentile(sorted, 0.95);
  const double silence_db = loud - config.pause_below_peak_db;
  std::vector<bool> silent(static_cast<size_t>(n));
  for (size_t k = 0; k < silent.size(); ++k) silent[k] = intensity[k] < silence_db;
  size_t first = 0, last = silent.size();
  while (first < last && silent[first]) ++first;
  while (last > first && silent[last - 1]) --last;
  std::vector<bool> inner(silent.begin() + long(first), silent.begin() + long(last));
  std::vector<double> pauses;
  for (double len : run_lengths(inner, true, hop_s))
    if (len * 1000 >= config.pause_min_ms) pauses.push_back(len);
  double pause_time = 0;
  for (double p : pauses) pause_time += p;

  // Syllables: from the transcript when there is one, else intensity peaks [DW09].
  int syllables = 0;
  bool from_text = info.text && count_syllables(*info.text) > 0;
  if (from_text) {
    syllables = count_syllables(*info.text);
  } else {
    const double threshold = std::max(silence_db, percentile(sorted, 0.5));
    double dip = intensity.empty() ? 0 : intensity[0];
    for (size_t k = 1; k + 1 < intensity.size(); ++k) {
      dip = std::min(dip, intensity[k]);
      bool peak = intensity[k] > intensity[k - 1] && intensity[k] >= intensity[k + 1];
      if (peak && voiced[k] && intensity[k] > threshold &&
          intensity[k] - dip >= config.nucleus_dip_db) {
        ++syllables;
        dip = intensity[k];
      }
    }
  }
  const double speaking = duration - pause_time;
  row.put(duration, duration > 0);
  row.put(syllables, n > 0 || from_text);
  row.put(from_text ? 1.0 : 0.0, true);
  row.put(syllables / duration, duration > 0 && (n > 0 || from_text));
  row.put(syllables / speaking, speaking > 0 && (n > 0 || from_text));
  row.put(double(pauses.size()), n > 0);
  row.put(duration > 0 ? pause_time / duration : 0, n > 0);
  row.put(pauses.empty() ? 0 : pause_time / double(pauses.size()), !pauses.empty());
  turn_taking_functionals(info, values, mask);
}

void turn_taking_functionals(const SegmentInfo& info, std::vector<float>& values,
                             std::vector<uint8_t>& mask) {
  Row row{values, mask};
  row.put(info.gap_to_other_s.value_or(0), info.gap_to_other_s.has_value());
  row.put(info.overlap_with_other_s, true);
}

const std::vector<std::string>& turn_taking_names() {
  static const std::vector<std::string> kNames(kConversation.end() - 2, kConversation.end());
  return kNames;
}

const std::vector<std::string>& baseline_functionals() {
  static const std::vector<std::string> kNames = {"f0_st_mean",
                                                  "f0_st_range_20_80",
                                                  "loudness_mean",
                                                  "intensity_db_mean",
                                                  "hnr_db_mean",
                                                  "speaking_rate_syl_per_s",
                                                  "articulation_rate_syl_per_s",
                                                  "pause_share"};
  return kNames;
}

std::vector<FunctionalColumn> speech_columns(int64_t width) {
  std::vector<FunctionalColumn> out;
  for (int64_t i = 0; i < width; ++i) out.push_back({"speech_" + std::to_string(i), false});
  return out;
}

std::vector<FunctionalColumn> relative_columns() {
  std::vector<FunctionalColumn> out;
  for (const auto& n : baseline_functionals()) out.push_back({"rel_" + n, false});
  return out;
}

std::vector<std::string> relative_names() {
  std::vector<std::string> out;
  for (auto& c : relative_columns()) out.push_back(std::move(c.name));
  return out;
}

void BaselineSums::add(const std::vector<std::string>& names, const std::vector<float>& values,
                       const std::vector<uint8_t>& mask) {
  const auto& base = baseline_functionals();
  sum.resize(base.size(), 0.0);
  count.resize(base.size(), 0);
  for (size_t k = 0; k < base.size(); ++k) {
    auto it = std::find(names.begin(), names.end(), base[k]);
    if (it == names.end()) continue;
    const size_t col = size_t(it - names.begin());
    if (mask[col]) sum[k] += values[col], ++count[k];
  }
}

void append_relative_to_baseline(const std::vector<std::string>& names,
                                 const BaselineSums& earlier, std::vector<float>& values,
                                 std::vector<uint8_t>& mask) {
  Row row{values, mask};
  const auto& base = baseline_functionals();
  for (size_t k = 0; k < base.size(); ++k) {
    auto it = std::find(names.begin(), names.end(), base[k]);
    if (it == names.end()) {
      row.put(0, false);
      continue;
    }
    const size_t col = size_t(it - names.begin());
    const int count = k < earlier.count.size() ? earlier.count[k] : 0;
    const double sum = count ? earlier.sum[k] : 0;
    const bool here = mask[col] != 0;
    row.put(values[col] - (count ? sum / count : 0), here && count > 0);
  }
}

void append_relative_to_baseline(const std::vector<std::string>& names,
                                 const std::vector<const std::vector<float>*>& earlier,
                                 const std::vector<const std::vector<uint8_t>*>& earlier_masks,
                                 std::vector<float>& values, std::vector<uint8_t>& mask) {
  BaselineSums sums;
  for (size_t i = 0; i < earlier.size(); ++i) sums.add(names, *earlier[i], *earlier_masks[i]);
  append_relative_to_baseline(names, sums, values, mask);
}

}  // namespace tenor::features
