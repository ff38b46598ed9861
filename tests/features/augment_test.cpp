// Waveform augmentation (data/features/augment.h): each op does what it claims, the draws are
// seeded, the config is validated, and a store's recorded audio is checked before it is read.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <fstream>
#include <map>
#include <numbers>
#include <numeric>

#include "core/error.h"
#include "core/sha256.h"
#include "data/features/augment.h"
#include "data/features/build.h"
#include "data/audio.h"
#include "data/dataset.h"
#include "data/features/store.h"
#include "tests/data/fixtures.h"
#include "tests/features/signals.h"

namespace tenor::test {
namespace {
using namespace tenor::features;

constexpr int kRate = 16000;

at::Tensor row(const std::vector<float>& x) {
  return at::tensor(at::ArrayRef<float>(x)).reshape({1, -1});
}

at::Tensor lengths_of(std::initializer_list<int64_t> n) {
  return at::tensor(std::vector<int64_t>(n), at::kLong);
}

double energy_db(const at::Tensor& x) { return 10 * std::log10((x * x).sum().item<double>()); }

/// Energy of x [N] at `rate` in [lo, hi) Hz.
double band_energy(const at::Tensor& x, double lo, double hi) {
  auto X = at::fft_rfft(x);
  auto f = at::arange(X.size(0), at::kDouble) * (double(kRate) / double(x.size(0)));
  auto mask = (f >= lo) & (f < hi);
  return (X.abs().pow(2) * mask).sum().item<double>();
}

TEST(Augment, TelephoneRemovesTheEnergyAbove3400HzAndKeepsTheBand) {
  auto tone = sine(1000, 0.3, 1.0, kRate);
  auto noise = white_noise(kRate, 0.1, 3);
  for (size_t i = 0; i < tone.size(); ++i) tone[i] += noise[i];
  auto x = row(tone);
  for (bool alaw : {false, true}) {
    auto y = telephone_op(x, lengths_of({kRate}), at::tensor({int(alaw)}).to(at::kBool), kRate)[0];
    const double above = band_energy(y, 3450, 8001), total = band_energy(y, 0, 8001);
    // 40 dB below the rest (what remains is the leakage of cutting the row at its length),
    // where the input had a tenth of its energy.
    EXPECT_LT(above / total, 1e-4) << "alaw " << alaw;
    EXPECT_GT(band_energy(x[0], 3450, 8001) / band_energy(x[0], 0, 8001), 0.05);
    // The 1 kHz tone passes within 1 dB (G.711 quantisation noise is about 38 dB below).
    EXPECT_NEAR(10 * std::log10(band_energy(y, 990, 1010) / band_energy(x[0], 990, 1010)), 0, 1);
    // Below 300 Hz is gone too.
    EXPECT_LT(band_energy(y, 1, 250) / total, 1e-4);
  }
}

TEST(Augment, NoiseGivesTheRequestedSnrWithinHalfADecibel) {
  auto speech = harmonic_signal([](double t) { return 120 + 40 * t; }, 1.0, kRate);
  // Two rows of different lengths: the SNR is over each row's own samples.
  auto x = at::zeros({2, kRate});
  x[0].copy_(row(speech)[0]);
  x[1].narrow(0, 0, kRate / 2).copy_(row(speech)[0].narrow(0, 0, kRate / 2));
  auto lengths = lengths_of({kRate, kRate / 2});
  for (int color = 0; color < 3; ++color) {
    for (double snr : {0.0, 10.0, 25.0}) {
      auto noise =
          at::stack({generated_noise(kRate, color, 11), generated_noise(kRate, color, 12)});
      auto y = noise_op(x, lengths, at::tensor({snr, snr}), noise);
      for (int64_t b = 0; b < 2; ++b) {
        const int64_t n = b == 0 ? kRate : kRate / 2;
        auto s = x[b].narrow(0, 0, n), e = (y[b] - x[b]).narrow(0, 0, n);
        EXPECT_NEAR(energy_db(s) - energy_db(e), snr, 0.5) << "color " << color << " row " << b;
        EXPECT_EQ(y[b].narrow(0, n, kRate - n).abs().sum().item<double>(), 0.0);
      }
    }
  }
}

TEST(Augment, GainScalesByTheDecibelsAndClipsAtFullScale) {
  auto x = row(sine(440, 0.5, 0.5, kRate));
  auto quiet = gain_op(x, lengths_of({kRate / 2}), at::tensor({-20.0}));
  EXPECT_NEAR(energy_db(quiet) - energy_db(x), -20, 1e-3);
  auto loud = gain_op(x, lengths_of({kRate / 2}), at::tensor({20.0}));
  EXPECT_LE(loud.abs().max().item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(loud.abs().max().item<float>(), 1.0f);
}

TEST(Augment, AgcPullsAQuietRowTowardItsTarget) {
  auto x = row(sine(300, 0.01, 1.0, kRate));  // about -43 dBFS RMS
  auto y = agc_op(x, lengths_of({kRate}), at::tensor({-20.0}), at::tensor({4.0}), kRate);
  const double before = energy_db(x) - 10 * std::log10(kRate),
               after = energy_db(y) - 10 * std::log10(kRate);
  // (target - level) * (1 - 1/ratio) = 23 * 0.75, capped at 20 dB.
  EXPECT_NEAR(after - before, 17.25, 1.0);
}

TEST(Augment, SpeedChangesTheLengthAndThePitchByTheFactor) {
  auto x = row(sine(1000, 0.5, 1.0, kRate));
  Waveforms w{x, lengths_of({kRate})};
  Waveforms y = speed_op(w, {1.25});
  EXPECT_EQ(y.lengths[0].item<int64_t>(), 12800);
  auto spectrum = at::fft_rfft(y.samples[0]).abs();
  const double peak_hz = spectrum.argmax().item<int64_t>() * double(kRate) / 12800;
  EXPECT_NEAR(peak_hz, 1250, 2);
}

TEST(Augment, ReverbWithAUnitImpulseIsTheIdentityAndARoomDecays) {
  auto x = row(sine(500, 0.5, 0.25, kRate));
  auto delta = at::zeros({1, 100});
  delta[0][0] = 1;
  auto y = reverb_op(x, lengths_of({kRate / 4}), delta);
  EXPECT_LT((y - x).abs().max().item<float>(), 1e-5f);
  auto rir = room_impulse_response(0.5, kRate, 9);
  EXPECT_EQ(rir.size(0), kRate / 2);
  EXPECT_NEAR((rir * rir).sum().item<double>(), 1.0, 1e-5);
  // 60 dB down over rt60: the last tenth holds almost nothing.
  EXPECT_LT((rir.narrow(0, kRate / 2 * 9 / 10, kRate / 20).pow(2)).sum().item<double>(), 1e-4);
}

TEST(Augment, DrawsAndOpsAreSeeded) {
  AugmentConfig c;
  c.probability = 1;
  EXPECT_EQ(augment_seed(1, 2, 3), augment_seed(1, 2, 3));
  EXPECT_NE(augment_seed(1, 2, 3), augment_seed(1, 3, 3));
  EXPECT_NE(augment_seed(1, 2, 3), augment_seed(1, 2, 4));
  EXPECT_NE(augment_seed(1, 2, 3), augment_seed(2, 2, 3));
  std::vector<AugmentDraw> draws;
  for (int r = 0; r < 8; ++r) {
    AugmentDraw a = draw_augment(c, augment_seed(5, 0, r));
    AugmentDraw b = draw_augment(c, augment_seed(5, 0, r));
    EXPECT_EQ(a.seed, b.seed);
    EXPECT_EQ(a.gain_db, b.gain_db);
    EXPECT_EQ(a.telephone, b.telephone);
    a.speed = a.reverb = a.noise = a.agc = a.telephone = a.gain = true;  // every op
    draws.push_back(a);
  }
  auto x = at::zeros({8, kRate / 2});
  for (int r = 0; r < 8; ++r)
    x[r].copy_(row(harmonic_signal([r](double) { return 100.0 + 20 * r; }, 0.5, kRate))[0]);
  Waveforms w{x, at::full({8}, kRate / 2, at::kLong)};
  Waveforms y1 = augment_waveforms(w, draws, kRate), y2 = augment_waveforms(w, draws, kRate);
  EXPECT_TRUE(at::equal(y1.samples, y2.samples));
  EXPECT_TRUE(at::equal(y1.lengths, y2.lengths));
  EXPECT_FALSE(at::equal(y1.samples.narrow(1, 0, 100), x.narrow(1, 0, 100)));
  EXPECT_TRUE(at::isfinite(y1.samples).all().item<bool>());
  // Off: nothing drawn applies.
  c.probability = 0;
  EXPECT_FALSE(draw_augment(c, 42).any());
}

TEST(Augment, ConfigOutOfRangeNamesTheKeyAndTheValue) {
  AugmentConfig c;
  c.gain_probability = 1.5;
  try {
    c.validate();
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("augment.gain_probability' is 1.5"), std::string::npos)
        << e.what();
  }
  c = AugmentConfig();
  c.noise_snr_db_min = 30, c.noise_snr_db_max = 10;
  EXPECT_THROW(c.validate(), ConfigError);
  c = AugmentConfig();
  c.speed_min = 0.1;
  EXPECT_THROW(c.validate(), ConfigError);
  EXPECT_NO_THROW(AugmentConfig().validate());
}

/// The two-call fixture dataset (stereo WAVs) and its store, built beside it.
fs::path small_store(const DatasetFixture& fx) {
  fx.write();
  features::BuildOptions o;
  o.progress = false;
  const fs::path out = fx.root.parent_path() / (fx.root.filename().string() + ".h5");
  build_feature_store(fx.root, out, o);
  return out;
}

TEST(Augment, TheStoreRecordsEachSegmentsAudioAndItIsCheckedBeforeReading) {
  DatasetFixture fx("augment-audio");
  const fs::path dataset = fx.root, store_path = small_store(fx);
  features::Store store = features::read_store(store_path);
  ASSERT_TRUE(store.has_audio_sources);
  EXPECT_EQ(fs::path(store.meta.dataset_dir), fs::absolute(dataset).lexically_normal());
  std::vector<int64_t> rows;
  for (size_t r = 0; r < store.segments.size(); ++r) {
    const auto& a = store.segments[r].audio;
    ASSERT_FALSE(a.path.empty());
    EXPECT_EQ(a.bytes, int64_t(fs::file_size(dataset / a.path)));
    EXPECT_EQ(a.sha256, Sha256().update_file(dataset / a.path).hex());
    rows.push_back(int64_t(r));
  }
  AugmentConfig c;
  c.probability = 1;
  {
    StoreAugmenter augment(store, "s.h5", rows, c, "cpu");
    auto out = augment(rows, 1, 0);
    ASSERT_EQ(out.size(), rows.size());
    for (const auto& [r, f] : out) {
      EXPECT_EQ(f.functionals.size(), store.layout.functional_columns.size());
      EXPECT_EQ(f.frames.size() % store.layout.lld_columns.size(), 0u);
      EXPECT_GT(f.frames.size(), 0u);
    }
  }
  // Changed audio: refused naming the file and the fix.
  const fs::path wav = dataset / store.segments[0].audio.path;
  { std::ofstream(wav, std::ios::app) << "x"; }
  try {
    StoreAugmenter augment(store, "s.h5", rows, c, "cpu");
    FAIL() << "changed audio accepted";
  } catch (const DataError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(wav.string()), std::string::npos) << m;
    EXPECT_NE(m.find("changed since the store was built"), std::string::npos) << m;
    EXPECT_NE(m.find("tenor data build"), std::string::npos) << m;
  }
  fs::remove(wav);
  EXPECT_THROW(StoreAugmenter(store, "s.h5", rows, c, "cpu"), DataError);
  // A store that does not record its audio (built before tenor did).
  store.has_audio_sources = false;
  try {
    StoreAugmenter augment(store, "old.h5", rows, c, "cpu");
    FAIL() << "a store without audio sources accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("old.h5 does not record where its audio lies"),
              std::string::npos)
        << e.what();
  }
}

/// Every row's frames, functionals and mask equal, bit for bit.
void expect_same_rows(const std::map<int64_t, RowFeatures>& a,
                      const std::map<int64_t, RowFeatures>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [r, f] : a) {
    ASSERT_TRUE(b.count(r)) << r;
    EXPECT_EQ(f.frames, b.at(r).frames) << r;
    EXPECT_EQ(f.functionals, b.at(r).functionals) << r;
    EXPECT_EQ(f.mask, b.at(r).mask) << r;
  }
}

TEST(Augment, APrefetchGivesTheSynchronousResultAndItsErrorBitForBit) {
  DatasetFixture fx("augment-prefetch");
  features::Store store = features::read_store(small_store(fx));
  std::vector<int64_t> rows(store.segments.size());
  std::iota(rows.begin(), rows.end(), 0);
  AugmentConfig c;
  c.probability = 1;
  // With two intra-op threads, as training sets them: the worker thread takes the same count.
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  StoreAugmenter sync(store, "s.h5", rows, c, "cpu"), ahead(store, "s.h5", rows, c, "cpu");
  const auto want = sync(rows, 1, 0);
  ASSERT_EQ(want.size(), rows.size());
  ahead.prefetch(rows, 1, 0);
  expect_same_rows(ahead(rows, 1, 0), want);
  // A prefetch with other arguments is dropped: the call computes its own.
  ahead.prefetch(rows, 1, 7);
  expect_same_rows(ahead(rows, 1, 0), want);
  const std::vector<int64_t> first(rows.begin(), rows.begin() + 1);
  ahead.prefetch(rows, 1, 0);
  expect_same_rows(ahead(first, 1, 0), sync(first, 1, 0));
  at::set_num_threads(threads);

  // The audio deleted after the checks: the error reaches the call that takes the prefetch,
  // naming the file; a dropped prefetch's error does not, and a pending one is waited for
  // when the augmenter goes.
  const fs::path wav = fx.root / store.segments[size_t(rows.back())].audio.path;
  std::vector<int64_t> elsewhere;
  for (int64_t r : rows)
    if (store.segments[size_t(r)].audio.path != store.segments[size_t(rows.back())].audio.path)
      elsewhere.push_back(r);
  ASSERT_FALSE(elsewhere.empty());
  fs::remove(wav);
  ahead.prefetch(rows, 1, 0);
  EXPECT_NE(thrown_message<DataError>([&] { ahead(rows, 1, 0); }).find(wav.string()),
            std::string::npos);
  ahead.prefetch(rows, 1, 0);
  EXPECT_EQ(ahead(elsewhere, 1, 0).size(), elsewhere.size());
  StoreAugmenter gone(store, "s.h5", elsewhere, c, "cpu");
  gone.prefetch(elsewhere, 1, 0);
}

/// `seconds` of stereo audio: a quiet 5 kHz tone (amplitude 0.001, -63 dBFS) for the first
/// `quiet_s`, then a loud 220 Hz tone (0.5) on both channels.
void write_quiet_then_loud(const fs::path& path, double seconds, double quiet_s) {
  std::vector<float> samples;
  for (int64_t i = 0; i < int64_t(seconds * kRate); ++i) {
    const double t = double(i) / kRate;
    const float v = float(t < quiet_s ? 0.001 * std::sin(2 * std::numbers::pi * 5000 * t)
                                      : 0.5 * std::sin(2 * std::numbers::pi * 220 * t));
    samples.push_back(v), samples.push_back(v);
  }
  data::write_audio(path, samples, 2, kRate);
}

TEST(Augment, NoiseFromTheDatasOwnNonSpeechIsSeededAndRefusedWhenThereIsNone) {
  // non_speech keeps exactly the quiet frames: 1 s of 5 kHz before 1 s of loud tone.
  std::vector<float> x;
  for (int i = 0; i < 2 * kRate; ++i)
    x.push_back(float(i < kRate ? 0.001 * std::sin(2 * std::numbers::pi * 5000.0 * i / kRate)
                                : 0.5 * std::sin(2 * std::numbers::pi * 220.0 * i / kRate)));
  const std::vector<float> quiet = non_speech(x, kRate);
  ASSERT_EQ(quiet.size(), size_t(kRate));
  EXPECT_EQ(quiet, std::vector<float>(x.begin(), x.begin() + kRate));
  EXPECT_TRUE(non_speech(std::vector<float>(kRate, 0.f), kRate).empty());  // digital silence
  // A row noised from the pool at 0 dB gets the pool's 5 kHz at the signal's energy, not
  // broadband noise; the same seed gives the same samples, another seed another window.
  auto tone = row(std::vector<float>(x.begin() + kRate, x.end()));
  auto pool = at::tensor(at::ArrayRef<float>(quiet));
  AugmentDraw d;
  d.noise = true, d.data_noise = true, d.snr_db = 0, d.seed = 7;
  Waveforms w{tone, lengths_of({kRate})};
  auto y = augment_waveforms(w, {d}, kRate, pool).samples;
  auto noise = (y - tone)[0];
  EXPECT_NEAR(energy_db(noise), energy_db(tone), 0.5);
  EXPECT_GT(band_energy(noise, 4900, 5100) / band_energy(noise, 0, 8001), 0.99);
  EXPECT_TRUE(at::equal(y, augment_waveforms(w, {d}, kRate, pool).samples));
  d.seed = 8;
  EXPECT_FALSE(at::equal(y, augment_waveforms(w, {d}, kRate, pool).samples));
  EXPECT_THROW(augment_waveforms(w, {d}, kRate), std::exception);  // no pool given
  // StoreAugmenter: a training call without quiet stretches is refused with the fix ...
  DatasetFixture fx("augment-data-noise");
  const fs::path first_store = small_store(fx);
  features::Store store = features::read_store(first_store);
  std::vector<int64_t> rows;
  for (size_t r = 0; r < store.segments.size(); ++r)
    if (store.segments[r].split == "train") rows.push_back(int64_t(r));
  AugmentConfig c;
  c.probability = 1, c.noise_probability = 1, c.noise_data_share = 1;
  EXPECT_NE(thrown_message<DataError>([&] { StoreAugmenter(store, "s.h5", rows, c, "cpu"); })
                .find("set augment.noise_data_share 0"),
            std::string::npos);
  // ... one with a quiet second is accepted, and the same (seed, epoch) gives the same rows.
  write_quiet_then_loud(fx.root / fx.calls[0]["audio"].get<std::string>(), 4.0, 1.0);
  fs::remove(first_store);
  store = features::read_store(small_store(fx));
  StoreAugmenter a(store, "s.h5", rows, c, "cpu"), b(store, "s.h5", rows, c, "cpu");
  auto fa = a(rows, 3, 2), fb = b(rows, 3, 2);
  ASSERT_EQ(fa.size(), rows.size());
  for (int64_t r : rows) EXPECT_EQ(fa[r].frames, fb[r].frames);
  EXPECT_NE(fa[rows[0]].frames, a(rows, 3, 3)[rows[0]].frames);  // another epoch
}

/// Mean of LLD column `name` over row frames `f` ([T, F] flattened) of `store`.
double column_mean(const features::Store& store, const std::vector<float>& f,
                   const std::string& name) {
  const auto& cols = store.layout.lld_columns;
  const size_t k = size_t(std::find(cols.begin(), cols.end(), name) - cols.begin());
  EXPECT_LT(k, cols.size()) << name;
  double sum = 0;
  size_t n = 0;
  for (size_t i = k; i < f.size(); i += cols.size()) sum += f[i], ++n;
  return n ? sum / double(n) : NAN;
}

TEST(Augment, NoiseAgainstTheCallPutsOneNoiseFloorUnderQuietAndLoudTurns) {
  // Call c1's customer channel: a quiet tone (-63 dBFS) under segment 1 (0-0.9 s), a loud one
  // (-9 dBFS) under segment 3 (2-2.9 s); the file's mean power is about -10 dBFS.
  DatasetFixture fx("augment-noise-reference");
  fx.write();
  write_quiet_then_loud(fx.root / fx.calls[0]["audio"].get<std::string>(), 4.0, 1.0);
  features::Store store = features::read_store(small_store(fx));
  std::vector<int64_t> rows;
  int64_t quiet = -1, loud = -1;
  for (size_t r = 0; r < store.segments.size(); ++r) {
    const auto& s = store.segments[r];
    if (s.call_id != "c1" || s.audio.channel != 1) continue;
    rows.push_back(int64_t(r));
    (s.start_s < 1 ? quiet : loud) = int64_t(r);
  }
  ASSERT_GE(quiet, 0);
  ASSERT_GE(loud, 0);
  AugmentConfig c;
  c.probability = 1, c.noise_probability = 1, c.noise_snr_db_min = c.noise_snr_db_max = 20;
  c.speed_probability = c.reverb_probability = c.agc_probability = 0;
  c.telephone_probability = c.gain_probability = 0;
  auto intensity = [&](const std::string& reference) {
    c.noise_reference = reference;
    auto f = StoreAugmenter(store, "s.h5", rows, c, "cpu")(rows, 1, 0);
    return std::pair(column_mean(store, f.at(quiet).frames, "intensity_db"),
                     column_mean(store, f.at(loud).frames, "intensity_db"));
  };
  const auto [quiet_own, loud_own] = intensity("segment");
  const auto [quiet_call, loud_call] = intensity("call");
  // Against its own audio the quiet turn stays quiet (noise 20 dB under -63 dBFS); against
  // the call it gets the call's noise floor, about 30 dB under the loud turn: some 30 dB up.
  EXPECT_GT(quiet_call - quiet_own, 20) << quiet_own << " " << quiet_call;
  EXPECT_LT(loud_call - quiet_call, 40) << loud_call << " " << quiet_call;
  // The loud turn is near the call's level: its noise moves by about 1 dB.
  EXPECT_NEAR(loud_call, loud_own, 3);
  c.noise_reference = "room";
  EXPECT_NE(thrown_message<ConfigError>([&] { c.validate(); })
                .find("augment.noise_reference' is 'room'; use segment"),
            std::string::npos);
}

TEST(Augment, ASpeakerChannelGoesUnderAllOfTheSpeakersTurnsInTheCallWithTheirSums) {
  DatasetFixture fx("augment-speaker-channel");
  features::Store store = features::read_store(small_store(fx));
  std::vector<int64_t> all, customer, agent;
  for (size_t r = 0; r < store.segments.size(); ++r) {
    all.push_back(int64_t(r));
    if (store.segments[r].call_id != "c1") continue;
    (store.segments[r].speaker == "customer" ? customer : agent).push_back(int64_t(r));
  }
  ASSERT_EQ(customer.size(), 2u);
  ASSERT_EQ(agent.size(), 2u);
  AugmentConfig c;
  c.probability = 1, c.gain_probability = 1, c.gain_db_min = c.gain_db_max = -20;
  c.speed_probability = c.reverb_probability = c.noise_probability = 0;
  c.agc_probability = c.telephone_probability = 0;
  const auto& cols = store.layout.lld_columns;
  const size_t k = size_t(std::find(cols.begin(), cols.end(), "intensity_db") - cols.begin());
  ASSERT_LT(k, cols.size());

  // One turn alone: the sums cover both of the customer's turns, 20 dB down.
  StoreAugmenter a(store, "s.h5", all, c, "cpu", true);
  const auto first = a({customer[0]}, 1, 0);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(first.at(customer[0]).speaker);
  const SpeakerSums& got = *first.at(customer[0]).speaker;
  SpeakerSums clean;
  clean.add(store, size_t(customer[0]));
  clean.add(store, size_t(customer[1]));
  EXPECT_EQ(got.frames, clean.frames);
  EXPECT_NEAR(got.lld_sum[k] / got.frames, clean.lld_sum[k] / clean.frames - 20, 1.0);
  // The other turn, later in the epoch, shares them. Asked in the other order (a resume
  // mid-epoch), a new augmenter gives the same sums: they do not depend on the batch.
  EXPECT_EQ(a({customer[1]}, 1, 0).at(customer[1]).speaker, first.at(customer[0]).speaker);
  StoreAugmenter b(store, "s.h5", all, c, "cpu", true);
  EXPECT_EQ(b({customer[1]}, 1, 0).at(customer[1]).speaker->lld_sum, got.lld_sum);
  // A batch of every row: one set of sums per speaker in a call.
  const auto batch = b(all, 1, 1);
  EXPECT_EQ(batch.at(customer[0]).speaker, batch.at(customer[1]).speaker);
  EXPECT_NE(batch.at(customer[0]).speaker, batch.at(agent[0]).speaker);
  EXPECT_EQ(batch.at(agent[0]).speaker->frames, batch.at(agent[1]).speaker->frames);
  // Without a speaker channel rows carry no sums.
  EXPECT_FALSE(StoreAugmenter(store, "s.h5", all, c, "cpu")(all, 1, 0).at(all[0]).speaker);

  // One draw per speaker in a call and epoch: its turns are augmented together or not at all.
  c.probability = 0.5;
  StoreAugmenter half(store, "s.h5", all, c, "cpu", true);
  int augmented = 0;
  for (int64_t epoch = 0; epoch < 12; ++epoch) {
    const auto f = half(all, 3, epoch);
    EXPECT_EQ(f.count(customer[0]), f.count(customer[1])) << epoch;
    EXPECT_EQ(f.count(agent[0]), f.count(agent[1])) << epoch;
    augmented += int(f.count(customer[0]));
  }
  EXPECT_GT(augmented, 0);
  EXPECT_LT(augmented, 12);
}

TEST(Augment, DegradeWritesANewValidDatasetAndNeverTouchesTheInput) {
  DatasetFixture fx("augment-degrade");
  fx.write();
  std::map<fs::path, std::string> before;
  for (const auto& e : fs::recursive_directory_iterator(fx.root))
    if (e.is_regular_file()) before[e.path()] = Sha256().update_file(e.path()).hex();
  const fs::path out = make_temp_dir("augment-degraded") / "ds";
  const AugmentDraw ops = parse_degrade_ops("telephone,gain=-6");
  EXPECT_TRUE(ops.telephone && ops.gain && !ops.alaw && !ops.noise);
  const DegradeReport report = degrade_dataset(fx.root, out, ops, 1, "test");
  EXPECT_EQ(report.calls, 1u);
  for (const auto& [path, sha] : before) EXPECT_EQ(Sha256().update_file(path).hex(), sha) << path;
  const data::Dataset ds = data::load_dataset_or_throw(out);
  ASSERT_EQ(ds.calls.size(), 1u);
  EXPECT_EQ(ds.calls[0].split, "test");
  data::AudioReader reader(out / ds.calls[0].audio);
  auto y = at::tensor(reader.read(0, 4.0, 0, 0));
  ASSERT_EQ(reader.info().sample_rate_hz, kRate);
  // Relative to the input's energy: the 220 Hz tone itself is below the band, and 16-bit
  // WAV quantisation adds its own white noise.
  data::AudioReader original(fx.root / ds.calls[0].audio);
  auto x = at::tensor(original.read(0, 4.0, 0, 0));
  EXPECT_LT(band_energy(y, 3450, 8001) / band_energy(x, 0, 8001), 1e-6);
  // Hostile input: an existing output, an output inside the dataset, unknown or bad ops.
  EXPECT_THROW(degrade_dataset(fx.root, out, ops, 1), UsageError);
  EXPECT_THROW(degrade_dataset(fx.root, fx.root / "deg", ops, 1), Error);
  EXPECT_NE(thrown_message<UsageError>([] { parse_degrade_ops("telephon"); })
                .find("did you mean 'telephone'"),
            std::string::npos);
  EXPECT_NE(thrown_message<UsageError>([] { parse_degrade_ops("noise=loud"); }).find("noise=loud"),
            std::string::npos);
  EXPECT_THROW(parse_degrade_ops("gain"), UsageError);
  EXPECT_THROW(parse_degrade_ops("speed=1.1"), UsageError);
  EXPECT_FALSE(fs::exists(fx.root / "deg"));
}

}  // namespace
}  // namespace tenor::test
