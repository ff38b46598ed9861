#pragma once
// Frame-level low-level descriptors (LLDs) of prosody and voice quality: the
// configuration, the versioned feature-set id and the column layout. No LibTorch
// here, so callers that only need names (CLI, stores) compile fast.

#include <cstdint>
#include <string>
#include <vector>

namespace tenor::features {

/// Id of the LLD definitions computed by this module. Any change to a definition,
/// a default or the column order needs a new id (and a line in data/features/CHANGES.md):
/// cached features and models are stamped with it and a mismatch is refused.
inline constexpr const char* kFeatureSetVersion = "tenor-lld-1";

/// Configuration of the frame-level LLDs. Defaults follow Praat's `To Pitch (ac)` and
/// `To Intensity` (Boersma 1993) for F0/voicing/intensity and eGeMAPS (Eyben et al. 2016,
/// IEEE TAC 7(2)) for the spectral families.
struct LldConfig {
  /// Rate of the waveforms given to the extractor (the CLI resamples to it).
  int sample_rate_hz = 16000;
  /// Hop between frame centres; frame k is centred at (k + 0.5) * frame_shift_ms.
  double frame_shift_ms = 10;

  // F0 and voicing: Praat's autocorrelation method (Boersma 1993) with its defaults.
  double f0_floor_hz = 75;        ///< lowest F0 searched; also sets the window lengths
  double f0_ceiling_hz = 600;     ///< highest F0 accepted as voiced (< Nyquist)
  double periods_per_window = 3;  ///< pitch window = periods_per_window / f0_floor_hz (Hann)
  int max_candidates = 15;        ///< candidates per frame, voiceless one included
  double silence_threshold =
      0.03;  ///< frames with peak below this share of the global peak: voiceless
  double voicing_threshold = 0.45;     ///< normalised-autocorrelation strength needed to be voiced
  double octave_cost = 0.01;           ///< per octave, favours higher F0 candidates
  double octave_jump_cost = 0.35;      ///< per octave of F0 change between frames (at 10 ms)
  double voiced_unvoiced_cost = 0.14;  ///< per voicing transition (at 10 ms)

  // Spectral families (eGeMAPS): Hamming-windowed power spectra.
  double spectral_window_ms = 25;  ///< Hamming window of the spectral LLDs
  int mel_bands = 26;              ///< log-mel bands (HTK mel scale)
  double mel_low_hz = 20;          ///< lower edge of the first mel band
  double mel_high_hz = 8000;       ///< upper edge of the last mel band, clipped to Nyquist
  int mfcc_count = 4;              ///< MFCC 1..mfcc_count (c0 is not output)

  /// Throws tenor::ConfigError naming the field, the value and the valid range.
  void validate() const;

  /// Samples between frame centres: round(sample_rate_hz * frame_shift_ms / 1000).
  int64_t hop_samples() const;
};

/// One LLD column of the table below.
struct LldColumn {
  std::string name;
  /// The value follows the recording level: a gain on the audio (a louder microphone, a
  /// channel recorded hotter) shifts it. Under `normalize_loudness` a model sees these
  /// columns with each segment's own level removed (train/input_transform.h), which reads
  /// this mark, never the name.
  bool level_dependent = false;
};

/// The LLD columns in order, with their marks (time is not a column; see lld_frame_time_s):
/// f0_hz, voiced, voicing_prob, intensity_db*, loudness*, hnr_db, jitter_local,
/// shimmer_local, mfcc_1..mfcc_<mfcc_count>, spectral_flux, alpha_ratio_db, hammarberg_db,
/// slope_0_500_db_per_khz, slope_500_1500_db_per_khz, logmel_0*..logmel_<mel_bands-1>*
/// (* level-dependent).
std::vector<LldColumn> lld_columns(const LldConfig& config);

/// The names of lld_columns(config), in order.
std::vector<std::string> lld_column_names(const LldConfig& config);

/// Frames of a waveform of `samples` samples: ceil(samples / hop), 0 for no samples.
int64_t lld_frame_count(int64_t samples, const LldConfig& config);

/// Centre of frame `frame` in seconds from the first sample: (frame + 0.5) * hop / rate.
double lld_frame_time_s(int64_t frame, const LldConfig& config);

}  // namespace tenor::features
