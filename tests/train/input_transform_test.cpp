// The input transform (train/input_transform.h): built from the training store's column
// marks, saved in the run, read back the same; runs of format 1 (normalizer.json) upgraded
// to the transform their format-2 twin saves, with the same predictions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/features/columns.h"
#include "data/features/lld_config.h"
#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"
#include "train/config.h"
#include "train/input_transform.h"
#include "train/predict.h"
#include "train/predictor.h"
#include "train/run_format.h"
#include "train/trainer.h"

namespace tenor::test {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

std::vector<int64_t> all_rows(const features::Store& store) {
  std::vector<int64_t> rows(store.segments.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = int64_t(i);
  return rows;
}

std::vector<int> marked(const std::vector<uint8_t>& marks) {
  std::vector<int> out;
  for (size_t c = 0; c < marks.size(); ++c)
    if (marks[c]) out.push_back(int(c));
  return out;
}

TEST(InputTransform, TakesItsLevelColumnsFromTheFeatureTablesMarks) {
  features::Store store = features::read_store(tiny_store());
  const features::LevelMarks marks = features::level_marks(store, "tiny");
  // The store's marks are the LLD table's, column for column.
  const auto table = features::lld_columns(features::LldConfig{});
  ASSERT_EQ(marks.lld.size(), table.size());
  for (size_t c = 0; c < table.size(); ++c)
    EXPECT_EQ(marks.lld[c] != 0, table[c].level_dependent) << table[c].name;
  ASSERT_FALSE(marked(marks.functionals).empty());

  train::TrainConfig config;
  config.normalize_loudness = true;
  const auto t = train::build_input_transform(config, store, all_rows(store), "tiny");
  EXPECT_EQ(t.level_lld_columns, marked(marks.lld));
  EXPECT_EQ(t.norm.func_dropped, marks.functionals);
  for (int c : t.level_lld_columns) EXPECT_EQ(t.norm.lld_mean[size_t(c)], 0.0f);

  // Without loudness normalisation the columns are recorded, nothing is dropped or zeroed.
  config.normalize_loudness = false;
  const auto plain = train::build_input_transform(config, store, all_rows(store), "tiny");
  EXPECT_EQ(plain.level_lld_columns, marked(marks.lld));
  EXPECT_EQ(marked(plain.norm.func_dropped), std::vector<int>{});
  EXPECT_NE(plain.norm.lld_mean[size_t(t.level_lld_columns[0])], 0.0f);

  // A store whose extractor configuration is gone has no marks: refused, never unmarked.
  features::Store bare = store;
  bare.meta.extractor_config = "{}";
  try {
    train::build_input_transform(config, bare, all_rows(bare), "bare");
    FAIL() << "a store without an extractor configuration was read";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("bare has no readable extractor configuration"));
  }
  // A column renamed in the store no longer matches its table: refused, never unmarked.
  store.layout.lld_columns[size_t(t.level_lld_columns[0])] = "level";
  try {
    train::build_input_transform(config, store, all_rows(store), "tiny");
    FAIL() << "a store whose columns are not its extractor's was read";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("tiny: its LLD columns are not those its extractor "
                                    "configuration defines"));
  }
}

TEST(InputTransform, DropFeaturesHidesTheColumnsItNamesFromEveryBatch) {
  const fs::path path = tiny_store();
  features::Store store = features::read_store(path);
  train::TrainConfig config;
  config.features = path.string();
  config.drop_features = {"logmel_*", "*_cv", "f0_hz"};
  const auto t = train::build_input_transform(config, store, all_rows(store), "tiny");
  const auto& lld = store.layout.lld_columns;
  const auto& func = store.layout.functional_columns;
  ASSERT_EQ(t.norm.lld_dropped.size(), lld.size());
  int lld_hidden = 0, func_hidden = 0;
  for (size_t c = 0; c < lld.size(); ++c) {
    const bool named = lld[c].rfind("logmel_", 0) == 0 || lld[c] == "f0_hz";
    EXPECT_EQ(t.norm.lld_dropped[c] != 0, named) << lld[c];
    lld_hidden += named;
  }
  for (size_t c = 0; c < func.size(); ++c) {
    const bool named = func[c].size() > 3 && func[c].substr(func[c].size() - 3) == "_cv";
    EXPECT_EQ(t.norm.func_dropped[c] != 0, named) << func[c];
    func_hidden += named;
  }
  EXPECT_EQ(lld_hidden, 27);  // 26 mel bands and F0
  EXPECT_GT(func_hidden, 5);

  // Every batch reads the dropped frame columns as 0 and masks the dropped functionals.
  const train::TrainData d = train::load_train_data(config, &t);
  std::vector<int64_t> rows = all_rows(d.store);
  const train::Batch b = train::make_batch(d, rows);
  for (size_t c = 0; c < lld.size(); ++c) {
    const auto column = b.frames.select(2, int64_t(c));
    if (t.norm.lld_dropped[c]) {
      EXPECT_EQ(column.abs().max().item<float>(), 0.0f) << lld[c];
    } else if (lld[c] != "voiced") {
      EXPECT_GT(column.abs().max().item<float>(), 0.0f) << lld[c];
    }
  }
  for (size_t c = 0; c < func.size(); ++c)
    if (t.norm.func_dropped[c]) {
      EXPECT_EQ(b.func_mask.select(1, int64_t(c)).max().item<float>(), 0.0f) << func[c];
      EXPECT_EQ(b.functionals.select(1, int64_t(c)).abs().max().item<float>(), 0.0f) << func[c];
    }

  // Saved and read back with the transform.
  EXPECT_EQ(train::InputTransform::from_json(t.to_json(), "f").norm.lld_dropped,
            t.norm.lld_dropped);

  // A pattern that matches nothing (a typo) is refused, naming it and the columns.
  config.drop_features = {"logmel_*", "logmal_*"};
  try {
    train::build_input_transform(config, store, all_rows(store), "tiny");
    FAIL() << "a pattern matching no column was taken";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("drop_features: `logmal_*` matches no column of tiny "
                                    "(frame LLDs f0_hz, voiced,"));
    EXPECT_THAT(e.what(), HasSubstr("use one of those names, or a glob such as logmel_*"));
    // A run of numbered columns is listed as its ends (a speech encoder's are hundreds).
    EXPECT_THAT(e.what(), HasSubstr(", logmel_0 .. logmel_25;"));
    EXPECT_THAT(e.what(), HasSubstr("mfcc_1, mfcc_2, mfcc_3, mfcc_4, spectral_flux"));
  }
  // Dropping everything leaves a model without text nothing to read: refused.
  config.drop_features = {"*"};
  config.model.use_text = false;
  try {
    train::build_input_transform(config, store, all_rows(store), "tiny");
    FAIL() << "a model with nothing to read was built";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("drop_features drops every feature column of tiny and the "
                                    "model reads no text"));
  }
  config.model.use_text = true;  // the store's transcripts are left to read
  EXPECT_NO_THROW(train::build_input_transform(config, store, all_rows(store), "tiny"));
}

TEST(InputTransform, SpeakerNormalizationScalesByDeviationsFromTheSpeakerWithAFloor) {
  features::Store store = features::read_store(tiny_store());
  train::TrainConfig config;
  const auto raw = train::build_input_transform(config, store, all_rows(store), "tiny");
  config.speaker_normalization = "call";
  // Column 0 made constant within each speaker in each call (varying across them): its
  // deviation from the speaker means is 0, and the floor keeps it at 1 % of the raw one.
  const size_t fl = store.layout.lld_columns.size();
  for (size_t r = 0; r < store.segments.size(); ++r)
    for (int64_t t = store.frame_offsets[r]; t < store.frame_offsets[r + 1]; ++t)
      store.frames[size_t(t) * fl] = float(store.segments[r].call_id.size() +
                                           (store.segments[r].speaker == "agent" ? 7 : 0));
  const auto before = train::build_input_transform(train::TrainConfig{}, store, all_rows(store),
                                                   "tiny");
  const auto t = train::build_input_transform(config, store, all_rows(store), "tiny");
  EXPECT_EQ(t.speaker_normalization, "call");
  EXPECT_FLOAT_EQ(t.norm.lld_std[0], 0.01f * before.norm.lld_std[0]);
  for (size_t c = 0; c < fl; ++c) {
    EXPECT_EQ(t.norm.lld_mean[c], 0.0f);
    EXPECT_TRUE(std::isfinite(t.norm.lld_std[c]));
    EXPECT_GE(t.norm.lld_std[c], 0.01f * before.norm.lld_std[c]);
  }
  for (size_t c = 1; c < fl; ++c)  // the speaker's own range is narrower than the split's
    EXPECT_LE(t.norm.lld_std[c], raw.norm.lld_std[c] * 1.0001f) << store.layout.lld_columns[c];
  for (size_t c = 0; c < t.norm.func_mean.size(); ++c) {
    EXPECT_EQ(t.norm.func_mean[c], 0.0f);
    EXPECT_TRUE(std::isfinite(t.norm.func_std[c]));
  }
}

TEST(InputTransform, JsonRoundTripAndADamagedFileIsNamed) {
  train::InputTransform t;
  t.norm.lld_mean = {1, 0, 3};
  t.norm.lld_std = {1, 2, 3};
  t.norm.func_mean = {0.5f};
  t.norm.func_std = {2};
  t.norm.func_dropped = {1};
  t.level_lld_columns = {1};
  t.normalize_loudness = true;
  t.max_frames = 600;
  t.context_tokens = 8;
  const json j = t.to_json();
  EXPECT_EQ(train::InputTransform::from_json(j, "f").to_json(), j);
  // A transform that feeds a model other inputs than it reads (an edited file) is refused.
  EXPECT_NO_THROW(train::check_transform_fits_model(t, "f", 8));
  EXPECT_THROW(train::check_transform_fits_model(t, "f", 0), DataError);
  // Transforms of tenors before 2026-12-06 say whether the model read sentence embeddings:
  // 0 reads as before, anything else is refused with the fix.
  json before = j;
  before["text_embedding_dim"] = 0, before["text_encoder"] = "";
  EXPECT_EQ(train::InputTransform::from_json(before, "f").to_json(), j);
  before["text_embedding_dim"] = 512, before["text_encoder"] = "use-lite";
  before.erase("context_tokens");  // older still: the refusal comes before any missing key
  try {
    train::InputTransform::from_json(before, "b/input_transform.json");
    ADD_FAILURE() << "a transform of sentence embeddings was read";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("b/input_transform.json feeds the model sentence "
                                         "embeddings of 'use-lite'"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("configs/text-transformer.yaml"), std::string::npos);
  }

  auto refused = [](json bad, const std::string& why) {
    try {
      train::InputTransform::from_json(bad, "run/input_transform.json");
      ADD_FAILURE() << "read: " << bad.dump();
    } catch (const DataError& e) {
      EXPECT_THAT(e.what(), HasSubstr("run/input_transform.json"));
      EXPECT_THAT(e.what(), HasSubstr(why));
    }
  };
  json bad = j;
  bad.erase("max_tokens");
  refused(bad, "has no `max_tokens`");
  bad = j;
  bad["context_tokens"] = "eight";
  refused(bad, "`context_tokens` is \"eight\"");
  bad = j;
  bad["level_lld_columns"] = {3};
  refused(bad, "names column 3 of 3");
  bad = j;
  bad["lld_std"] = {1};
  refused(bad, "different lengths");
  bad = j;
  bad["lld_dropped"] = {1, 0};
  refused(bad, "`lld_dropped` and `lld_mean` have different lengths");
  bad = j;
  bad["lld_std"] = {1, 0, 3};  // would scale column 1 to infinity
  refused(bad, "`lld_std` column 1 is 0, not a deviation above 0");
  bad = j;
  bad["func_std"] = {0};  // a dropped column's deviation is never used
  EXPECT_NO_THROW(train::InputTransform::from_json(bad, "f"));
  bad["func_dropped"] = {0};
  refused(bad, "`func_std` column 0 is 0, not a deviation above 0");
  // Transforms written before drop_features (bundles, runs of format 4) drop no column.
  bad = j;
  bad.erase("lld_dropped");
  EXPECT_EQ(train::InputTransform::from_json(bad, "f").norm.lld_dropped,
            (std::vector<uint8_t>{0, 0, 0}));
}

/// A run of format 1 made from a fresh format-2 run `run`: normalizer.json written as the
/// trainer wrote it then, no input_transform.json, run.json saying format 1.
fs::path as_format_1(const fs::path& run, const fs::path& out) {
  fs::copy(run, out, fs::copy_options::recursive);
  write_normalizer_instead_of_transform(out);
  json marker = json::parse(read_file(out / "run.json"));
  marker["format_version"] = 1;
  write_file_atomic(out / "run.json", marker.dump(2));
  return out;
}

TEST(InputTransform, AFormatOneRunPredictsAsItsFormatTwoTwin) {
  // Context and loudness normalisation: the transform's fields an upgrade must recover.
  const fs::path dir = make_temp_dir("transform-format-1");
  train::TrainConfig config;
  train::apply_yaml_file(
      config, write_train_config(dir, "  context_tokens: 4\nnormalize_loudness: true\n").string());
  config.epochs = 1;
  train::train_model(config);
  const fs::path run2 = dir / "run";
  ASSERT_TRUE(fs::exists(run2 / "input_transform.json"));
  EXPECT_FALSE(fs::exists(run2 / "normalizer.json"));
  EXPECT_EQ(train::run_format_version(run2), train::kRunFormatVersion);
  const fs::path run1 = as_format_1(run2, dir / "run-format-1");
  EXPECT_EQ(train::run_format_version(run1), 1);

  auto twin = train::load_run(run2), old = train::load_run(run1);
  EXPECT_EQ(old.info.transform.to_json(), twin.info.transform.to_json());
  EXPECT_EQ(old.info.transform.context_tokens, 4);
  EXPECT_TRUE(old.info.transform.normalize_loudness);
  EXPECT_FALSE(old.info.transform.level_lld_columns.empty());
  train::RunPredictor twin_model(run2), old_model(run1);
  auto data2 = twin_model.prepare(features::read_store(tiny_store()), tiny_store().string());
  auto data1 = old_model.prepare(features::read_store(tiny_store()), tiny_store().string());
  const auto rows = all_rows(data2.store);
  const auto p2 = twin_model.probabilities(data2, rows), p1 = old_model.probabilities(data1, rows);
  ASSERT_EQ(p1.size(), p2.size());
  for (size_t k = 0; k < p1.size(); ++k) EXPECT_EQ(p1[k], p2[k]) << "task " << k;
  // Read, never rewritten.
  EXPECT_FALSE(fs::exists(run1 / "input_transform.json"));
  EXPECT_EQ(train::run_format_version(run1), 1);
}

}  // namespace
}  // namespace tenor::test
