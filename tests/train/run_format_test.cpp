// Run directories carry a format version (run.json); older formats are upgraded as they are
// read, newer ones refused with the fix. Runs are written by hand here, as each format wrote
// them; tests/train/trainer_test.cpp checks that a fresh training writes the current one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "core/atomic_file.h"
#include "core/error.h"
#include "tests/data/fixtures.h"
#include "train/config.h"
#include "train/data.h"
#include "train/predict.h"
#include "train/run_dir.h"
#include "train/run_format.h"

namespace tenor::test {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

train::ModelShape small_shape() {
  train::ModelShape shape;
  shape.lld_features = 3;
  shape.functional_features = 4;
  shape.vocab_size = 50;
  train::TaskSpec task;
  task.name = "escalation";
  task.speaker = "customer";
  task.classes = {"no", "yes"};
  shape.tasks = {task};
  return shape;
}

/// A run as this tenor writes it: run.json of the current format and the four model files.
fs::path write_current_run(const std::string& name) {
  const fs::path dir = make_temp_dir(name);
  train::write_run_marker(dir, "0123456789abcdef");
  train::TrainConfig config;
  config.model.ngrams = false;
  write_file_atomic(dir / "config.yaml", train::to_yaml(config));
  write_file_atomic(dir / "input_transform.json", train::InputTransform{}.to_json().dump());
  write_file_atomic(dir / "shape.json", train::shape_to_json(small_shape()).dump());
  const json result = {{"best_epoch", 1},
                       {"tokenizer_sha256", "tok"},
                       {"feature_set_version", "lld-1"},
                       {"functionals_version", "fun-1"}};
  write_file_atomic(dir / "result.json", result.dump());
  return dir;
}

json read_json(const fs::path& path) { return json::parse(read_file(path)); }

TEST(RunFormat, AFreshRunRecordsTheCurrentFormat) {
  const fs::path dir = write_current_run("run-format-current");
  const json marker = read_json(dir / "run.json");
  EXPECT_EQ(marker.at("format_version"), train::kRunFormatVersion);
  EXPECT_EQ(marker.at("config_sha256"), "0123456789abcdef");
  EXPECT_EQ(train::run_format_version(dir), train::kRunFormatVersion);
  const auto run = train::read_run(dir);
  EXPECT_FALSE(run.config.model.ngrams);
  EXPECT_FALSE(read_json(dir / "shape.json").contains("text_embedding_dim"));
  EXPECT_EQ(run.shape.tasks.at(0).classes, (std::vector<std::string>{"no", "yes"}));
  EXPECT_EQ(train::store_contract(run).tokenizer_sha256, "tok");
}

// Format 0: no run.json, and the keys added since the first runs missing. Each gets the
// value such a run was trained with.
TEST(RunFormat, AFormatZeroRunIsUpgradedAsItIsRead) {
  const fs::path dir = write_current_run("run-format-0");
  fs::remove(dir / "run.json");
  fs::remove(dir / "input_transform.json");
  write_file_atomic(dir / "normalizer.json", train::Normalizer{}.to_json().dump());
  std::string yaml = read_file(dir / "config.yaml");
  const size_t at = yaml.find("  ngrams: false\n");
  ASSERT_NE(at, std::string::npos) << yaml;
  write_file_atomic(dir / "config.yaml", yaml.erase(at, std::string("  ngrams: false\n").size()));
  json shape = read_json(dir / "shape.json");
  shape["tasks"][0].erase("classes");
  write_file_atomic(dir / "shape.json", shape.dump());
  write_file_atomic(dir / "result.json", json{{"best_epoch", 1}}.dump());

  EXPECT_EQ(train::run_format_version(dir), 0);
  const auto run = train::read_run(dir);
  EXPECT_FALSE(run.config.model.ngrams) << "runs before the key had no n-gram path";
  EXPECT_EQ(run.config.model.hidden, train::TrainConfig{}.model.hidden);
  EXPECT_TRUE(run.shape.tasks.at(0).classes.empty()) << "matched by count";
  const auto contract = train::store_contract(run);
  EXPECT_EQ(contract.tokenizer_sha256, "");
  EXPECT_EQ(contract.feature_set_version, "");
  // The files on disk are read, never rewritten.
  EXPECT_EQ(read_json(dir / "shape.json"), shape);
  EXPECT_FALSE(fs::exists(dir / "run.json"));
}

// Format 4: runs from before drop_features read every frame column.
TEST(RunFormat, AFormatFourRunDropsNoFrameColumn) {
  const fs::path dir = write_current_run("run-format-4");
  json marker = read_json(dir / "run.json");
  marker["format_version"] = 4;
  write_file_atomic(dir / "run.json", marker.dump());
  train::InputTransform t;
  t.norm.lld_mean = {1, 2}, t.norm.lld_std = {1, 1};
  json transform = t.to_json();
  transform.erase("lld_dropped");
  write_file_atomic(dir / "input_transform.json", transform.dump());
  EXPECT_EQ(train::run_format_version(dir), 4);
  EXPECT_EQ(train::read_run(dir).transform.norm.lld_dropped, (std::vector<uint8_t>{0, 0}));
  EXPECT_FALSE(read_json(dir / "input_transform.json").contains("lld_dropped")) << "not rewritten";
}

/// `dir` turned into a run of format 5, which recorded whether its model read sentence
/// embeddings (`dim` of them from `encoder`; 0 for none) in shape.json and
/// input_transform.json, and saved model.text_embedding in config.yaml.
void make_format_five(const fs::path& dir, int dim, const std::string& encoder) {
  json marker = read_json(dir / "run.json");
  marker["format_version"] = 5;
  write_file_atomic(dir / "run.json", marker.dump());
  for (const char* file : {"shape.json", "input_transform.json"}) {
    json doc = read_json(dir / file);
    doc["text_embedding_dim"] = dim, doc["text_encoder"] = encoder;
    write_file_atomic(dir / file, doc.dump());
  }
  std::string yaml = read_file(dir / "config.yaml");
  yaml.insert(yaml.find("  text_encoder:"),
              std::string("  text_embedding: ") + (dim ? "true" : "false") + "\n");
  write_file_atomic(dir / "config.yaml", yaml);
}

// Format 5: runs without sentence embeddings read as before; runs whose model read them
// (model.text_embedding, removed on 2026-12-06) are refused with the fix, and not touched.
TEST(RunFormat, AFormatFiveRunOfSentenceEmbeddingsIsRefusedWithTheFix) {
  const fs::path plain = write_current_run("run-format-5");
  make_format_five(plain, 0, "");
  EXPECT_EQ(train::run_format_version(plain), 5);
  const auto run = train::read_run(plain);
  EXPECT_EQ(run.shape.tasks.at(0).classes, (std::vector<std::string>{"no", "yes"}));
  EXPECT_TRUE(read_json(plain / "shape.json").contains("text_embedding_dim")) << "not rewritten";

  const fs::path use = write_current_run("run-format-5-use");
  make_format_five(use, 512, "universal-sentence-encoder-lite");
  const std::string shape = read_file(use / "shape.json");
  try {
    train::read_run(use);
    FAIL() << "a run of sentence embeddings was read";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("run " + use.string() + " reads sentence embeddings of "
                                    "'universal-sentence-encoder-lite' (model.text_embedding"));
    EXPECT_THAT(e.what(), HasSubstr("`tenor train --config configs/text-transformer.yaml`"));
  }
  EXPECT_EQ(read_file(use / "shape.json"), shape);
}

TEST(RunFormat, ANewerFormatIsRefusedWithTheFix) {
  const fs::path dir = write_current_run("run-format-future");
  json marker = read_json(dir / "run.json");
  marker["format_version"] = train::kRunFormatVersion + 1;
  marker["tool_version"] = "9.0.0 (abc)";
  write_file_atomic(dir / "run.json", marker.dump());
  try {
    train::read_run(dir);
    FAIL() << "a newer format was read";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("run " + dir.string() + " has format " +
                                    std::to_string(train::kRunFormatVersion + 1)));
    EXPECT_THAT(e.what(), HasSubstr("upgrade tenor to the version that wrote it (9.0.0 (abc))"));
  }
  // Nor does `tenor train` write into it.
  EXPECT_THROW(train::check_run_dir(dir, train::TrainConfig{}, 0), DataError);
}

TEST(RunFormat, ADamagedRunIsRefusedNamingTheFile) {
  const fs::path dir = write_current_run("run-format-damaged");
  write_file_atomic(dir / "run.json", "{\"format_version\": \"one\"}");
  EXPECT_THROW(
      {
        try {
          train::read_run(dir);
        } catch (const DataError& e) {
          EXPECT_THAT(e.what(), HasSubstr("damaged run.json"));
          throw;
        }
      },
      DataError);
  // A current-format run missing a key it guarantees was edited: named, not defaulted.
  train::write_run_marker(dir, "0123456789abcdef");
  json shape = read_json(dir / "shape.json");
  shape["tasks"][0].erase("classes");
  write_file_atomic(dir / "shape.json", shape.dump());
  try {
    train::read_run(dir);
    FAIL() << "a current-format run without class names was read";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("has no `classes` in shape.json tasks[]"));
  }
  write_file_atomic(dir / "result.json", "{not json");
  EXPECT_THROW(train::read_run(dir), DataError);
}

}  // namespace
}  // namespace tenor::test

namespace tenor {
namespace {

// Another tenor claiming the directory has taken its lock and is writing run.json (its
// temporary file beside it): a run started at that moment is not told that the directory "is
// not a tenor run"; it goes on to the lock, which refuses it with the holder's pid
// (E2eTrain.ASecondTrainingIntoTheSameRunIsRefusedWithTheHoldersPid once failed so).
TEST(RunDir, ADirectoryBeingClaimedIsLeftToTheLock) {
  const auto dir = test::make_temp_dir("run-claim");
  write_file_atomic(dir / train::kRunLock, "");
  write_file_atomic(dir / (std::string(".") + train::kRunMarker + ".tmp-4242-0"), "{");
  EXPECT_NO_THROW(train::check_run_dir(dir, train::TrainConfig{}, 0));
  write_file_atomic(dir / "stray.txt", "not ours");
  EXPECT_THROW(train::check_run_dir(dir, train::TrainConfig{}, 0), ConfigError);
}

}  // namespace
}  // namespace tenor
