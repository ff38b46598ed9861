// check_store_for_model (train/predict.h): a store whose columns are not the model's is refused
// naming both counts and, where speech-encoder columns make the difference, the build option;
// check_store_for_config (train/data.h): a store without the states a config reads, likewise.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/sha256.h"
#include "data/features/store.h"
#include "tests/data/fixtures.h"
#include "train/config.h"
#include "train/data.h"
#include "train/predict.h"

namespace tenor::train {
namespace {
namespace fs = std::filesystem;

features::Store store_with(int functionals, int speech_width) {
  features::Store s;
  s.layout.lld_columns = {"f0_hz"};
  for (int i = 0; i < functionals; ++i)
    s.layout.functional_columns.push_back("f" + std::to_string(i));
  nlohmann::json config = {{"lld", {{"mel_bands", 26}}}};
  if (speech_width > 0)
    config["speech_encoder"] = {{"name", "whisper-tiny-en"}, {"width", speech_width}};
  s.meta.extractor_config = config.dump();
  return s;
}

StoreContract model_reading(int functionals) {
  StoreContract m;
  m.model = "run r";
  m.shape.lld_features = 1;
  m.shape.functional_features = functionals;
  return m;
}

TEST(StoreCheck, ColumnsOtherThanTheModelsNameTheSpeechEncoderWhereItMakesTheDifference) {
  auto speech = store_with(451, 384);
  std::string m = test::thrown_message<DataError>(
      [&] { check_store_for_model(speech, "s.h5", model_reading(67)); });
  EXPECT_NE(m.find("s.h5: 1 LLD and 451 functional columns, but run r reads 1 and 67"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("384 of this store's functionals are a speech encoder's"), std::string::npos)
      << m;
  auto plain = store_with(67, 0);
  m = test::thrown_message<DataError>(
      [&] { check_store_for_model(plain, "p.h5", model_reading(451)); });
  EXPECT_NE(m.find("--speech-encoder ENCODER` with the encoder its training store was built "
                   "with; known: whisper-tiny-en"),
            std::string::npos)
      << m;
  // A model whose states are known (its store's or bundle's record) names them, window too.
  StoreContract clip = model_reading(451);
  clip.speech = {"whisper-tiny-en", "ab12", "clip"};
  plain.meta.dataset_dir = "/data/calls";
  m = test::thrown_message<DataError>([&] { check_store_for_model(plain, "p.h5", clip); });
  EXPECT_NE(m.find("run r reads the states of the speech encoder whisper-tiny-en, speech_*: "
                   "build this store with them, `tenor data build /data/calls --out STORE "
                   "--speech-encoder whisper-tiny-en --speech-window clip`"),
            std::string::npos)
      << m;
  auto fewer = store_with(67, 0);
  m = test::thrown_message<DataError>(
      [&] { check_store_for_model(fewer, "f.h5", model_reading(60)); });
  EXPECT_EQ(m.find("speech"), std::string::npos) << m;
  EXPECT_NE(m.find("build the features with the model's extractor settings"), std::string::npos);
}

// The states themselves: a store of the model's encoder and window is read; another window or
// other weights are refused with the build command; a record without a SHA-256 (a model whose
// store is gone) checks nothing.
TEST(StoreCheck, SpeechStatesOfAnotherWindowOrOtherWeightsAreRefused) {
  auto store = [](const std::string& sha, const std::string& window) {
    features::Store s = store_with(451, 384);
    nlohmann::json config = nlohmann::json::parse(s.meta.extractor_config);
    config["speech_encoder"]["sha256"] = sha;
    if (!window.empty()) config["speech_encoder"]["window"] = window;
    s.meta.extractor_config = config.dump();
    s.meta.dataset_dir = "/data/calls";
    return s;
  };
  StoreContract padded = model_reading(451);
  padded.speech = {"whisper-tiny-en", "ab12cd", "padded"};
  auto same = store("ab12cd", "padded"), older = store("ab12cd", "");
  EXPECT_NO_THROW(check_store_for_model(same, "s.h5", padded));
  EXPECT_NO_THROW(check_store_for_model(older, "o.h5", padded)) << "no window: padded";
  auto clip = store("ab12cd", "clip");
  std::string m =
      test::thrown_message<DataError>([&] { check_store_for_model(clip, "c.h5", padded); });
  EXPECT_NE(m.find("c.h5 holds the states of the speech encoder whisper-tiny-en (SHA-256 "
                   "ab12cd, window clip), but run r was trained on those of whisper-tiny-en "
                   "(SHA-256 ab12cd, window padded); build the store with the model's: `tenor "
                   "data build /data/calls --out STORE --speech-encoder whisper-tiny-en`"),
            std::string::npos)
      << m;
  auto other = store("ffff00", "padded");
  m = test::thrown_message<DataError>([&] { check_store_for_model(other, "x.h5", padded); });
  EXPECT_NE(m.find("(SHA-256 ffff00, window padded), but run r"), std::string::npos) << m;
  EXPECT_NO_THROW(check_store_for_model(clip, "c.h5", model_reading(451))) << "not known";
}

// check_store_for_config: a config that names a speech encoder refuses a store without its
// states, or with another encoder's, giving the build command; the same weights under another
// name (a directory) are accepted by their SHA-256.
TEST(StoreCheck, AConfigThatReadsASpeechEncodersStatesRefusesAStoreWithoutThem) {
  TrainConfig config;
  config.speech_encoder = "whisper-tiny-en";
  auto plain = store_with(67, 0);
  plain.meta.dataset_dir = "/data/calls";
  std::string m = test::thrown_message<ConfigError>(
      [&] { check_store_for_config(config, plain, "p.h5"); });
  EXPECT_NE(m.find("speech_encoder: the config reads the states of the speech encoder "
                   "'whisper-tiny-en', but p.h5 was built without a speech encoder; build it "
                   "with `tenor data build /data/calls --out p.h5 --speech-encoder "
                   "whisper-tiny-en`, or set speech_encoder: \"\""),
            std::string::npos)
      << m;
  auto speech = store_with(451, 384);
  EXPECT_NO_THROW(check_store_for_config(config, speech, "s.h5"));  // the same name
  TrainConfig typo;
  typo.speech_encoder = "whisper-tiny";
  m = test::thrown_message<ConfigError>([&] { check_store_for_config(typo, plain, "p.h5"); });
  EXPECT_NE(m.find("did you mean 'whisper-tiny-en'?"), std::string::npos) << m;
  EXPECT_EQ(m.find("tenor data build"), std::string::npos) << m;
  TrainConfig any;
  EXPECT_NO_THROW(check_store_for_config(any, plain, "p.h5"));

  // A directory: accepted when its model.bin is the store's, refused otherwise.
  const auto dir = test::make_temp_dir("store-check-speech");
  write_file_atomic(dir / "model.bin", "weights");
  config.speech_encoder = dir.string();
  auto store = store_with(451, 384);
  auto extractor = nlohmann::json::parse(store.meta.extractor_config);
  extractor["speech_encoder"]["sha256"] = sha256_file(dir / "model.bin");
  store.meta.extractor_config = extractor.dump();
  EXPECT_NO_THROW(check_store_for_config(config, store, "s.h5"));
  write_file_atomic(dir / "model.bin", "other weights");
  m = test::thrown_message<ConfigError>([&] { check_store_for_config(config, store, "s.h5"); });
  EXPECT_NE(m.find("but s.h5 was built with those of whisper-tiny-en (SHA-256 "),
            std::string::npos)
      << m;
  fs::remove_all(dir);
}

// speech_window: a config that names the window refuses a store of the other window with the
// build command of its own; "" takes either; a store without the states is told the config's
// window. An unknown window is refused by validate; without an encoder the key asks nothing.
TEST(StoreCheck, AConfigThatNamesASpeechWindowRefusesAStoreOfTheOther) {
  TrainConfig config;
  config.speech_encoder = "whisper-tiny-en";
  config.speech_window = "padded";
  auto padded = store_with(451, 384);  // no window recorded: built padded, before the option
  padded.meta.dataset_dir = "/data/calls";
  EXPECT_NO_THROW(check_store_for_config(config, padded, "p.h5"));
  auto clip = padded;
  auto extractor = nlohmann::json::parse(clip.meta.extractor_config);
  extractor["speech_encoder"]["window"] = "clip";
  clip.meta.extractor_config = extractor.dump();
  std::string m =
      test::thrown_message<ConfigError>([&] { check_store_for_config(config, clip, "c.h5"); });
  EXPECT_NE(m.find("speech_window: the config reads the states of the speech encoder "
                   "'whisper-tiny-en' in the padded window, but c.h5 holds them in the clip "
                   "window; build it with `tenor data build /data/calls --out c.h5 "
                   "--speech-encoder whisper-tiny-en`, or set speech_window: clip (or \"\")"),
            std::string::npos)
      << m;
  config.speech_window = "clip";
  EXPECT_NO_THROW(check_store_for_config(config, clip, "c.h5"));
  m = test::thrown_message<ConfigError>([&] { check_store_for_config(config, padded, "p.h5"); });
  EXPECT_NE(m.find("--speech-encoder whisper-tiny-en --speech-window clip`, or set "
                   "speech_window: padded"),
            std::string::npos)
      << m;
  auto plain = store_with(67, 0);
  m = test::thrown_message<ConfigError>([&] { check_store_for_config(config, plain, "n.h5"); });
  EXPECT_NE(m.find("built without a speech encoder; build it with `tenor data build DATASET "
                   "--out n.h5 --speech-encoder whisper-tiny-en --speech-window clip`"),
            std::string::npos)
      << m;
  config.speech_window = "";
  EXPECT_NO_THROW(check_store_for_config(config, padded, "p.h5"));
  EXPECT_NO_THROW(check_store_for_config(config, clip, "c.h5"));

  TrainConfig bad;
  bad.features = "s.h5", bad.out = "r";
  bad.speech_encoder = "whisper-tiny-en";
  bad.speech_window = "wide";
  m = test::thrown_message<ConfigError>([&] { bad.validate(); });
  EXPECT_NE(m.find("config key 'speech_window' is wide; use padded"), std::string::npos) << m;
  // Without an encoder there are no states to have a window: the prosody-only model of a
  // config that names both is `--set speech_encoder=""`.
  bad.speech_encoder = "", bad.speech_window = "clip";
  EXPECT_NO_THROW(bad.validate());
  EXPECT_NO_THROW(check_store_for_config(bad, plain, "n.h5"));
}

}  // namespace
}  // namespace tenor::train
