// check_store_for_model (train/predict.h): a store whose columns are not the model's is refused
// naming both counts and, where speech-encoder columns make the difference, the build option.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/features/store.h"
#include "tests/data/fixtures.h"
#include "train/predict.h"

namespace tenor::train {
namespace {

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
  EXPECT_NE(m.find("--speech-encoder whisper-tiny-en"), std::string::npos) << m;
  auto fewer = store_with(67, 0);
  m = test::thrown_message<DataError>(
      [&] { check_store_for_model(fewer, "f.h5", model_reading(60)); });
  EXPECT_EQ(m.find("speech"), std::string::npos) << m;
  EXPECT_NE(m.find("build the features with the model's extractor settings"), std::string::npos);
}

}  // namespace
}  // namespace tenor::train
