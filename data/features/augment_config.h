#pragma once
// Waveform augmentation: what `tenor train`'s `augment:` block and `tenor data degrade` set.
// No LibTorch here (train/config.h includes it); the ops are in data/features/augment.h.

#include <cstdint>
#include <string>

namespace tenor::features {

/// The channel simulations, each with its probability per augmented row and its range; a
/// value is drawn uniformly in [min, max] per row. Applied in the order of the fields:
/// speed, reverberation, noise, AGC, telephone, gain (the talker, the room, the
/// environment, the phone's gain control, the line and codec, the recording level).
struct AugmentConfig {
  /// Share of training rows that go through the chain at all (0: augmentation off). The
  /// others keep the store's features, so this bounds the cost of re-extraction.
  double probability = 0;
  double speed_probability = 0.3;  ///< speed perturbation (tempo and pitch, as sox `speed`)
  double speed_min = 0.9, speed_max = 1.1;
  double reverb_probability = 0.3;  ///< synthetic room: exponentially decaying noise
  double reverb_rt60_s_min = 0.2, reverb_rt60_s_max = 0.8;
  double noise_probability = 0.3;  ///< generated white, pink or brown noise at an SNR
  double noise_snr_db_min = 5, noise_snr_db_max = 30;
  /// What the SNR is measured against: "segment", the row's own audio, or "call", the mean
  /// power of the whole audio channel the row is cut from (as `tenor data degrade` sets it):
  /// one noise floor under a call's loud and quiet turns alike, so a quiet turn of a loud
  /// call gets a lower SNR than the draw. The same as "segment" where a segment spans its file.
  std::string noise_reference = "segment";
  /// Share of the noised rows whose noise is the training calls' own non-speech (quiet
  /// stretches of their audio, StoreAugmenter) rather than generated white, pink or brown.
  double noise_data_share = 0;
  double agc_probability = 0.3;  ///< automatic gain control: the level pulled to a target
  double agc_target_db_min = -30, agc_target_db_max = -15;  ///< dBFS RMS
  double agc_ratio_min = 2, agc_ratio_max = 8;  ///< compression ratio (1: none)
  double telephone_probability = 0.3;  ///< 300-3400 Hz, 8 kHz, mu-law or A-law
  double telephone_alaw_share = 0.5;   ///< share of telephone rows coded in A-law (else mu-law)
  double gain_probability = 0.5;       ///< a recording level change, clipped at full scale
  double gain_db_min = -20, gain_db_max = 6;
  /// `tenor train` only (`data degrade` ignores it): the weight of a consistency loss, the
  /// Jensen-Shannon divergence between each task's probabilities on an augmented row and on
  /// the same row's clean store features (Hendrycks et al. 2020, AugMix), added to the
  /// batch's loss. 0: off. It asks the model to score a clip the same through any channel,
  /// where augmentation alone only asks it to be right.
  double consistency = 0;
  /// `tenor train` only: 0 draws each row's chain anew every epoch; N > 0 gives each row N
  /// fixed chains, the one of epoch e being that of e mod N, and keeps the speech-encoder
  /// states (BuildOptions::speech_encoder) of each augmented copy once computed, so that a
  /// store with a speech encoder pays the encoder once per copy, not once per epoch (its
  /// LLDs are extracted again each time: they are cheap). Fewer distinct chains per row.
  int copies = 0;

  bool enabled() const { return probability > 0; }
  /// Throws ConfigError naming the key (`prefix` + field, e.g. "augment.gain_db_min"), the
  /// value and the valid range.
  void validate(const std::string& prefix = "augment.") const;
};

/// What one row's augmentation does, drawn from (config, seed) alone: the same seed gives the
/// same draw on any machine and device.
struct AugmentDraw {
  uint64_t seed = 0;  ///< for the noise the ops generate (noise, reverberation)
  bool speed = false, reverb = false, noise = false, agc = false, telephone = false,
       gain = false;
  double speed_factor = 1, rt60_s = 0, snr_db = 0, agc_target_db = 0, agc_ratio = 1,
         gain_db = 0;
  int noise_color = 0;  ///< 0 white, 1 pink (1/f), 2 brown (1/f^2)
  bool alaw = false;
  bool data_noise = false;  ///< the noise is the data's own non-speech (else generated)
  bool any() const { return speed || reverb || noise || agc || telephone || gain; }
};

/// One row's draw: whether it is augmented at all (config.probability), then each op with
/// its probability and value. Nothing is drawn from a global generator.
AugmentDraw draw_augment(const AugmentConfig& config, uint64_t seed);

/// The seed of a training row's augmentation in an epoch: a hash of (run seed, epoch, store
/// row), so a row's draw does not depend on the batch it is in, the rank or a resume.
uint64_t augment_seed(uint64_t run_seed, int64_t epoch, int64_t row);

}  // namespace tenor::features
