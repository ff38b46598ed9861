// A store built with a speech encoder (`tenor data build --speech-encoder`): each segment's
// pooled Whisper states as functional columns, the same through every path that extracts
// features (data build, predict's groups, augmented rows), and refused where the weights, the
// rate or the name are not the ones the features need.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/audio.h"
#include "data/dataset.h"
#include "data/features/augment.h"
#include "data/features/build.h"
#include "data/features/columns.h"
#include "data/features/speech_encoder.h"
#include "data/features/store.h"
#include "tests/data/fixtures.h"
#include "tests/features/text_encoder_dir.h"

namespace tenor::features {
namespace {
namespace fs = std::filesystem;

BuildOptions speech_options() {
  BuildOptions o;
  o.progress = false;
  o.speech_encoder = test::speech_encoder_dir("whisper-tiny-en").string();
  return o;
}

/// The store of `fx` built with the speech encoder (scripts/install-deps.sh fetches it).
fs::path speech_store(const test::DatasetFixture& fx) {
  fx.write();
  const fs::path out = fx.root.parent_path() / (fx.root.filename().string() + ".h5");
  build_feature_store(fx.root, out, speech_options());
  return out;
}

float max_abs_diff(const float* a, const float* b, size_t n) {
  float d = 0;
  for (size_t i = 0; i < n; ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

/// What `tenor predict` and `tenor eval --dataset` extract with the options `back` read from
/// `store`'s configuration, one segment per group: the states `store` holds at `at`.
void expect_extracted_states_as_stored(const data::Dataset& ds, const BuildOptions& back,
                                       const Store& store, size_t at, size_t width) {
  const size_t nf = store.layout.functional_columns.size();
  size_t rows = 0;
  extract_features(ds, back, store.tokenizer_model, 0.5, [&](Store& got, const auto& group) {
    for (int64_t g : group) {
      const auto& seg = got.segments[size_t(g)];
      size_t r = 0;
      while (store.segments[r].call_id != seg.call_id || store.segments[r].segment != seg.segment)
        ++r;
      EXPECT_LE(max_abs_diff(&got.functionals[size_t(g) * nf + at],
                             &store.functionals[r * nf + at], width),
                1e-5)
          << seg.call_id << " #" << seg.segment;
      ++rows;
    }
  });
  EXPECT_EQ(rows, store.segments.size());
}

TEST(SpeechFeatures, EachSegmentKeepsItsPooledStatesBetweenOwnAndRelativeColumns) {
  test::DatasetFixture fx("speech-store");
  const Store store = read_store(speech_store(fx));
  const auto& columns = store.layout.functional_columns;
  const auto first = std::find(columns.begin(), columns.end(), "speech_0");
  ASSERT_NE(first, columns.end());
  const size_t at = size_t(first - columns.begin()), nf = columns.size();
  SpeechStates speech(test::speech_encoder_dir("whisper-tiny-en"), c10::Device(c10::kCPU));
  const size_t width = size_t(speech.width());
  ASSERT_EQ(width, 384u);
  EXPECT_EQ(columns[at + width - 1], "speech_383");
  EXPECT_EQ(columns[at + width].rfind("rel_", 0), 0u) << "the relative features follow";
  EXPECT_EQ(columns[at - 1].rfind("rel_", 0), std::string::npos);
  // Level marks read the layout from the configuration: none of the states follows the level.
  const LevelMarks marks = level_marks(store, "s.h5");
  for (size_t k = at; k < at + width; ++k) EXPECT_EQ(marks.functionals[k], 0) << columns[k];
  // The configuration names the weights; reading it back gives the same options.
  const BuildOptions back =
      build_options_from_config(nlohmann::json::parse(store.meta.extractor_config));
  EXPECT_EQ(back.speech_encoder_sha256, speech.sha256());
  EXPECT_EQ(back.speech_encoder_width, speech.width());

  // Each row's states are the encoder's on the segment's own audio.
  const data::Dataset ds = data::load_dataset_or_throw(fx.root);
  for (size_t r = 0; r < store.segments.size(); ++r) {
    const StoreSegment& s = store.segments[r];
    data::AudioReader reader(fx.root / s.audio.path);
    const auto samples = reader.read(s.start_s, s.end_s, s.audio.channel, 16000);
    const auto states = speech({samples.data()}, {int64_t(samples.size())});
    ASSERT_EQ(states[0].size(), width);
    EXPECT_LE(max_abs_diff(states[0].data(), &store.functionals[r * nf + at], width), 1e-5)
        << "row " << r;
    EXPECT_TRUE(std::all_of(store.functional_mask.begin() + long(r * nf + at),
                            store.functional_mask.begin() + long(r * nf + at + width),
                            [](uint8_t m) { return m == 1; }));
  }
  // What `tenor predict` and `tenor eval --dataset` extract, one segment per group: the same.
  expect_extracted_states_as_stored(ds, back, store, at, width);
}

// `--speech-window clip`: each segment's states from its own frames, not padded to 30 s; the
// window is recorded in the store, read back by predict and eval, and a store of an earlier
// tenor (no window recorded) reads back as padded.
TEST(SpeechFeatures, AClipWindowStoreKeepsTheStatesOfEachSegmentAloneAndSaysSo) {
  test::DatasetFixture fx("speech-clip");
  fx.write();
  BuildOptions o = speech_options();
  o.speech_window = "clip";
  const fs::path out = fx.root.parent_path() / "speech-clip.h5";
  build_feature_store(fx.root, out, o);
  const Store store = read_store(out);
  const auto& columns = store.layout.functional_columns;
  const size_t at = size_t(std::find(columns.begin(), columns.end(), "speech_0") -
                           columns.begin()),
               nf = columns.size();
  ASSERT_LT(at, nf);
  nlohmann::json config = nlohmann::json::parse(store.meta.extractor_config);
  EXPECT_EQ(config["speech_encoder"]["window"], "clip");
  const BuildOptions back = build_options_from_config(config);
  EXPECT_EQ(back.speech_window, "clip");
  const fs::path dir = test::speech_encoder_dir("whisper-tiny-en");
  SpeechStates alone(dir, c10::Device(c10::kCPU), SpeechWindow::clip);
  SpeechStates padded(dir, c10::Device(c10::kCPU));
  const size_t width = size_t(alone.width());
  for (size_t r = 0; r < store.segments.size(); ++r) {
    const StoreSegment& s = store.segments[r];
    data::AudioReader reader(fx.root / s.audio.path);
    const auto samples = reader.read(s.start_s, s.end_s, s.audio.channel, 16000);
    const auto a = alone({samples.data()}, {int64_t(samples.size())});
    const auto p = padded({samples.data()}, {int64_t(samples.size())});
    EXPECT_LE(max_abs_diff(a[0].data(), &store.functionals[r * nf + at], width), 1e-5) << r;
    EXPECT_GT(max_abs_diff(a[0].data(), p[0].data(), width), 1e-2) << "not the padded states";
  }
  // What predict and eval --dataset extract from the recorded options: the same states.
  expect_extracted_states_as_stored(data::load_dataset_or_throw(fx.root), back, store, at, width);
  // A very short clip (under the log-mel's 400-sample frame) still gives states.
  const std::vector<float> blip(100, 0.1f);
  EXPECT_EQ(alone({blip.data()}, {100})[0].size(), width);
  // An earlier tenor's store: no window recorded, the padded states it was built with.
  config["speech_encoder"].erase("window");
  EXPECT_EQ(build_options_from_config(config).speech_window, "padded");
  BuildOptions wide = o;
  wide.speech_window = "wide";
  EXPECT_NE(test::thrown_message<ConfigError>([&] { wide.validate(); })
                .find("speech window 'wide' is neither padded nor clip"),
            std::string::npos);
}

// A segment over Whisper's 30 s: its windows' states averaged, each weighted by its frames.
TEST(SpeechFeatures, ASegmentOver30SecondsIsTheFrameWeightedMeanOfItsWindows) {
  SpeechStates speech(test::speech_encoder_dir("whisper-tiny-en"), c10::Device(c10::kCPU));
  std::vector<float> clip(16000 * 35);
  for (size_t i = 0; i < clip.size(); ++i)
    clip[i] = float(0.1 * std::sin(2 * M_PI * (150 + 100 * std::sin(double(i) / 16000)) *
                                   double(i) / 16000));
  const int64_t first = 16000 * 30, rest = int64_t(clip.size()) - first;
  const auto whole = speech({clip.data()}, {int64_t(clip.size())});
  const auto parts = speech({clip.data(), clip.data() + first}, {first, rest});
  const double a = double((first / 160 + 1) / 2), b = double((rest / 160 + 1) / 2);
  ASSERT_EQ(whole[0].size(), size_t(speech.width()));
  float worst = 0;
  for (size_t k = 0; k < whole[0].size(); ++k)
    worst = std::max(worst, float(std::abs(whole[0][k] - (a * parts[0][k] + b * parts[1][k]) /
                                                             (a + b))));
  EXPECT_LE(worst, 1e-5);
  EXPECT_GT(max_abs_diff(parts[0].data(), parts[1].data(), parts[0].size()), 1e-3);
  EXPECT_TRUE(speech({clip.data()}, {0})[0].empty()) << "no audio, no states";
  // A clip's states do not depend on the clips computed with it (a kept augmented copy is the
  // one a resumed run computes again).
  EXPECT_EQ(speech({clip.data()}, {first})[0], parts[0]);
}

TEST(SpeechFeatures, OtherWeightsARateOtherThan16kHzOrAnUnknownNameAreRefusedWithTheFix) {
  // Weights other than those the features were built with (one byte of a weight changed).
  const fs::path dir = test::make_temp_dir("speech-other-weights");
  std::string bytes = read_file(test::speech_encoder_dir("whisper-tiny-en") / "model.bin");
  bytes[bytes.size() - 100] ^= 0x01;
  write_file_atomic(dir / "model.bin", bytes);
  BuildOptions built = speech_options();
  const auto original = load_speech_encoder(built, "cpu");  // sets the SHA-256 and width
  BuildOptions other = built;
  other.speech_encoder = dir.string();
  const std::string m = test::thrown_message<DataError>([&] { load_speech_encoder(other, "cpu"); });
  EXPECT_NE(m.find((dir / "model.bin").string()), std::string::npos) << m;
  EXPECT_NE(m.find("but the features were built with the speech encoder of SHA-256 " +
                   built.speech_encoder_sha256.substr(0, 12)),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("fetch the same weights again"), std::string::npos) << m;
  // 8 kHz analysis.
  BuildOptions rate = speech_options();
  rate.lld.sample_rate_hz = 8000;
  EXPECT_NE(test::thrown_message<ConfigError>([&] { load_speech_encoder(rate, "cpu"); })
                .find("reads 16 kHz audio, but the analysis rate is 8000 Hz; build with "
                      "--sample-rate 16000"),
            std::string::npos);
  // A misspelt name, and a directory without model.bin.
  BuildOptions typo;
  typo.speech_encoder = "whisper-tiny";
  EXPECT_NE(test::thrown_message<ConfigError>([&] { load_speech_encoder(typo, "cpu"); })
                .find("'whisper-tiny' is neither a known speech encoder (whisper-tiny-en) nor a "
                      "directory; did you mean 'whisper-tiny-en'?"),
            std::string::npos);
  fs::remove(dir / "model.bin");
  typo.speech_encoder = dir.string();
  EXPECT_NE(test::thrown_message<ConfigError>([&] { load_speech_encoder(typo, "cpu"); })
                .find(dir.string() + " has no model.bin"),
            std::string::npos);
  fs::remove_all(dir);
}

TEST(SpeechFeatures, AugmentedRowsGetTheStatesOfTheirAugmentedAudioKeptPerCopy) {
  test::DatasetFixture fx("speech-augment");
  const Store store = read_store(speech_store(fx));
  const size_t nf = store.layout.functional_columns.size();
  const auto first = std::find(store.layout.functional_columns.begin(),
                               store.layout.functional_columns.end(), "speech_0");
  const size_t at = size_t(first - store.layout.functional_columns.begin()), width = 384;
  std::vector<int64_t> rows(store.segments.size());
  std::iota(rows.begin(), rows.end(), 0);
  AugmentConfig c;
  c.probability = 1;
  c.noise_probability = 1;  // every row changes audibly
  c.copies = 2;
  StoreAugmenter kept(store, "s.h5", rows, c, "cpu");
  const auto epoch0 = kept(rows, 1, 0), epoch1 = kept(rows, 1, 1), epoch2 = kept(rows, 1, 2);
  ASSERT_EQ(epoch0.size(), rows.size());
  for (int64_t r : rows) {
    const auto& f = epoch0.at(r);
    ASSERT_EQ(f.functionals.size(), nf);
    EXPECT_TRUE(std::all_of(f.mask.begin() + long(at), f.mask.begin() + long(at + width),
                            [](uint8_t m) { return m == 1; }));
    // The augmented audio's states, not the store's clean ones; the relative ones are kept.
    EXPECT_GT(max_abs_diff(&f.functionals[at], &store.functionals[size_t(r) * nf + at], width),
              1e-3)
        << r;
    EXPECT_TRUE(std::equal(f.functionals.begin() + long(at + width), f.functionals.end(),
                           store.functionals.begin() + long(size_t(r) * nf + at + width)));
    // Epoch 2 is epoch 0's copy; epoch 1 another.
    EXPECT_EQ(epoch2.at(r).functionals, f.functionals) << r;
    EXPECT_EQ(epoch2.at(r).frames, f.frames) << r;
    EXPECT_NE(epoch1.at(r).functionals, f.functionals) << r;
  }
  // The kept states are those a fresh augmenter computes for the same copy.
  StoreAugmenter fresh(store, "s.h5", rows, c, "cpu");
  const auto again = fresh(rows, 1, 2);
  for (int64_t r : rows) EXPECT_EQ(again.at(r).functionals, epoch0.at(r).functionals) << r;
  // Without copies every epoch draws anew.
  c.copies = 0;
  StoreAugmenter anew(store, "s.h5", rows, c, "cpu");
  const auto other = anew(rows, 1, 2);
  for (int64_t r : rows) EXPECT_NE(other.at(r).functionals, epoch0.at(r).functionals) << r;
}

}  // namespace
}  // namespace tenor::features
