#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "tests/data/fixtures.h"
#include "train/config.h"

namespace tenor::train {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::tenor::test::thrown_message;
using ::testing::Not;

TEST(TrainConfig, YamlThenOverridesThenRoundTrip) {
  TrainConfig c;
  apply_yaml_text(c,
                  "features: f.h5\nepochs: 3\noptim:\n  lr: 0.01\nmodel:\n  type: linear\ntasks: "
                  "[escalation]\n",
                  "a.yaml");
  apply_override(c, "optim.lr=0.005");
  apply_override(c, "model.agent_prosody=true");
  EXPECT_EQ(c.features, "f.h5");
  EXPECT_EQ(c.epochs, 3);
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.005);
  EXPECT_EQ(c.model.type, "linear");
  EXPECT_TRUE(c.model.agent_prosody);
  EXPECT_EQ(c.tasks, std::vector<std::string>{"escalation"});
  TrainConfig back;
  apply_yaml_text(back, to_yaml(c), "dumped");
  EXPECT_EQ(to_yaml(back), to_yaml(c));
  EXPECT_EQ(config_identity(back), config_identity(c));  // the same config hash
}

TEST(TrainConfig, RuntimeKeysAreSavedButLeftOutOfTheHash) {
  TrainConfig a, b;
  apply_override(b, "features=moved/store.h5");
  apply_override(b, "out=moved/run");
  apply_override(b, "threads=4");
  apply_override(b, "checkpoint_every_steps=5");
  apply_override(b, "encoder_cache_gb=0.5");
  apply_override(b, "distributed.timeout_s=60");
  EXPECT_EQ(config_identity(a), config_identity(b));
  EXPECT_NE(to_yaml(a), to_yaml(b));  // config.yaml keeps them
  EXPECT_TRUE(differing_keys(a, b, "a", "b").empty());
  EXPECT_EQ(differing_keys(a, b, "a", "b", true),
            (std::vector<std::string>{"features (\"\" a, moved/store.h5 b)",
                                      "out (runs/run a, moved/run b)", "threads (0 a, 4 b)",
                                      "checkpoint_every_steps (50 a, 5 b)",
                                      "encoder_cache_gb (4 a, 0.5 b)",
                                      "distributed.timeout_s (1800 a, 60 b)"}));
  apply_override(b, "seed=2");
  EXPECT_NE(config_identity(a), config_identity(b));
  EXPECT_EQ(differing_keys(a, b, "a", "b"), std::vector<std::string>{"seed (1 a, 2 b)"});

  // A saved config.yaml gives the hash texts of each tenor that may have written it: today's
  // (no runtime key), on 2026-12-04 (`features`, `out`, `checkpoint_every_steps`), before
  // 2026-12-04 (all of them).
  const fs::path file = fs::temp_directory_path() / "tenor-runtime-keys-config.yaml";
  write_file_atomic(file, to_yaml(a));
  const auto then = read_saved_config(file.string()).identities_then;
  fs::remove(file);
  ASSERT_EQ(then.size(), 3u);
  EXPECT_EQ(then[0], config_identity(a));
  auto has = [](const std::string& yaml, const char* key) {
    return yaml.find(std::string("\n") + key + ":") != std::string::npos ||
           yaml.rfind(std::string(key) + ":", 0) == 0;
  };
  EXPECT_FALSE(has(then[0], "features") || has(then[0], "out") || has(then[0], "threads"));
  EXPECT_TRUE(has(then[1], "features") && has(then[1], "out") &&
              has(then[1], "checkpoint_every_steps") && !has(then[1], "threads") &&
              !has(then[1], "encoder_cache_gb"));
  EXPECT_FALSE(has(then[0], "checkpoint_every_steps"));
  EXPECT_TRUE(has(then[2], "features") && has(then[2], "out") && has(then[2], "threads") &&
              has(then[2], "encoder_cache_gb"));
}

// model.text_embedding (sentence embeddings of a side tool) was removed on 2026-12-06. Every
// run before saved it as `false`: that still reads, and its config hash is the one the run
// recorded; `true` is refused with the fix; no config of today writes the key.
TEST(TrainConfig, ARetiredKeyReadsAsSavedAndIsRefusedWhereItMeantSomething) {
  TrainConfig c;
  try {
    apply_yaml_text(c, "epochs: 2\nmodel:\n  text_embedding: true\n", "a.yaml");
    ADD_FAILURE() << "model.text_embedding: true was read";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "a.yaml:3: config key 'model.text_embedding' is no longer read: sentence "
                  "embeddings from a side tool (tools/sentence-embeddings) were removed"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("configs/text-transformer.yaml"), std::string::npos);
  }
  EXPECT_THROW(apply_override(c, "model.text_embedding=yes"), ConfigError);
  EXPECT_THROW(apply_override(c, "model.text_embedding=[1]"), ConfigError);
  TrainConfig saved;
  apply_yaml_text(saved, "model:\n  text_embedding: false\n", "b.yaml");
  EXPECT_EQ(to_yaml(saved), to_yaml(TrainConfig{}));
  EXPECT_EQ(to_yaml(saved).find("text_embedding"), std::string::npos);
  EXPECT_EQ(config_identity(saved), config_identity(TrainConfig{}));
  const auto keys = config_keys();
  EXPECT_EQ(std::find(keys.begin(), keys.end(), "model.text_embedding"), keys.end());

  // A config.yaml of a run from before: the key where it stood, and the hash text it had.
  std::string yaml = to_yaml(TrainConfig{});
  yaml.insert(yaml.find("  text_encoder:"), "  text_embedding: false\n");
  const fs::path file = fs::temp_directory_path() / "tenor-retired-key-config.yaml";
  write_file_atomic(file, yaml);
  const auto then = read_saved_config(file.string());
  fs::remove(file);
  EXPECT_EQ(to_yaml(then.config), to_yaml(TrainConfig{}));
  ASSERT_FALSE(then.identities_then.empty());
  EXPECT_NE(then.identities_then[0].find("  text_embedding: false\n  text_encoder:"),
            std::string::npos)
      << then.identities_then[0];
  std::string without = then.identities_then[0];
  without.erase(without.find("  text_embedding: false\n"), 24);
  EXPECT_EQ(without, config_identity(TrainConfig{}));
}

TEST(TrainConfig, NumbersPrintAsWrittenAndReadBackExactly) {
  TrainConfig c;
  apply_yaml_text(c, "optim:\n  lr: 0.004\n  encoder_lr: 1.5e-4\nmodel:\n  dropout: 0.1\n",
                  "a.yaml");
  const std::string yaml = to_yaml(c);
  EXPECT_NE(yaml.find("lr: 0.004\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("encoder_lr: 0.00015\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("dropout: 0.1\n"), std::string::npos) << yaml;
  TrainConfig back;
  apply_yaml_text(back, yaml, "config.yaml");
  EXPECT_EQ(back.optim.lr, c.optim.lr);  // bit for bit, not merely close
  EXPECT_EQ(back.optim.encoder_lr, c.optim.encoder_lr);
  EXPECT_EQ(back.model.dropout, c.model.dropout);
  // The hash text keeps yaml-cpp's 17 digits, so runs written by older versions resume.
  EXPECT_NE(config_identity(c).find("dropout: 0.10000000000000001"), std::string::npos);
}

TEST(TrainConfig, UnknownKeysSuggestTheNearest) {
  TrainConfig c;
  try {
    apply_yaml_text(c, "epochs: 2\noptim:\n  lrr: 0.1\n", "x.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "x.yaml:3: unknown config key 'optim.lrr'; did you mean 'optim.lr'?"),
              std::string::npos)
        << e.what();
  }
  // A section given a value is named as one, with a key inside it.
  EXPECT_THAT(thrown_message<ConfigError>([&] { apply_override(c, "optim=5"); }),
              HasSubstr("--set: 'optim' is a section of the config, not a key; set its keys one "
                        "by one, e.g. optim."));
  // Values print as written: 1.5, not 1.500000.
  apply_override(c, "model.dropout=1.5");
  c.features = "s.h5", c.out = "r";
  EXPECT_EQ(thrown_message<ConfigError>([&] { c.validate(); }),
            "config key 'model.dropout' is 1.5; use 0 <= p < 1");
  c.model.dropout = 0.1;
  EXPECT_THROW(apply_override(c, "bacth_size=3"), ConfigError);
  EXPECT_THROW(apply_override(c, "epochs=many"), ConfigError);
  EXPECT_THROW(apply_override(c, "novalue"), ConfigError);
  // A glob that starts with * is a YAML alias: the list is refused with the quoting that works.
  try {
    apply_override(c, "drop_features=[*_cv, mfcc_1,\"hnr_db\", 'f0_mean']");
    FAIL() << "an unreadable list was accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--set drop_features: '[*_cv, mfcc_1,\"hnr_db\", 'f0_mean']' "
                                    "is not a YAML list ("));
    EXPECT_THAT(e.what(), HasSubstr("--set 'drop_features=[\"*_cv\", \"mfcc_1\", \"hnr_db\", "
                                    "\"f0_mean\"]'"));
  }
  try {  // a map that YAML cannot read gets no advice about lists
    apply_override(c, "augment={probability: 0.2");
    FAIL() << "an unreadable map was accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--set augment: '{probability: 0.2' is not a YAML map ("));
    EXPECT_THAT(e.what(), Not(HasSubstr("list")));
  }
  // No value is YAML's null: refused, not read as the string "null".
  for (const char* empty : {"out=", "out=~", "epochs="}) {
    try {
      apply_override(c, empty);
      ADD_FAILURE() << empty << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(), HasSubstr("' is given no value; it holds values like '")) << empty;
    }
  }
  EXPECT_THROW(apply_yaml_text(c, "out:\n", "x.yaml"), ConfigError);
  try {
    apply_override(c, "drop_features=logmel_*");
    FAIL() << "a string for a list was accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("it holds a list, such as [a, b] or []"));
  }
  apply_override(c, "drop_features=[\"*_cv\", logmel_*]");
  EXPECT_EQ(c.drop_features, (std::vector<std::string>{"*_cv", "logmel_*"}));
}

TEST(TrainConfig, AKeyWrittenTwiceIsRefusedWithBothLines) {
  // YAML keeps one of two equal keys without a word; the user meant one of them.
  for (const std::string& yaml : {std::string("epochs: 2\nbatch_size: 8\nepochs: 30\n"),
                                  std::string("optim:\n  lr: 0.1\n  lr: 0.01\n")}) {
    TrainConfig c;
    try {
      apply_yaml_text(c, yaml, "x.yaml");
      ADD_FAILURE() << "accepted:\n" << yaml;
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("appears again (first at line"), std::string::npos) << what;
      EXPECT_NE(what.find("x.yaml:3:"), std::string::npos) << what;
    }
  }
}

/// What validate() refuses `c` with ("" when it accepts it).
std::string refusal(const TrainConfig& c) {
  try {
    c.validate();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(TrainConfig, ValidateNamesTheKey) {
  TrainConfig c;
  c.features = "f.h5";
  c.loss = "hinge";
  EXPECT_NE(refusal(c).find("'loss' is hinge"), std::string::npos) << refusal(c);
  c.loss = "balanced";
  apply_override(c, "model.context_tokens=-1");
  EXPECT_NE(refusal(c).find("'model.context_tokens' is -1"), std::string::npos) << refusal(c);
  apply_override(c, "model.context_tokens=64");
  EXPECT_EQ(refusal(c), "");
  EXPECT_NE(to_yaml(c).find("context_tokens: 64"), std::string::npos);
  // A decay of 1 would never move the average from the random initial weights.
  apply_override(c, "optim.ema_decay=1");
  EXPECT_NE(refusal(c).find("'optim.ema_decay' is 1"), std::string::npos) << refusal(c);
  apply_override(c, "optim.ema_decay=0.999");
  EXPECT_EQ(refusal(c), "");
  // A negative thread count used to fall back to LibTorch's default without a word.
  apply_override(c, "threads=-3");
  EXPECT_NE(refusal(c).find("'threads' is -3; use 0"), std::string::npos) << refusal(c);
  apply_override(c, "threads=2");
  EXPECT_EQ(refusal(c), "");
}

// An ensemble is of fusion models, without a pretrained encoder per member, 1..32 of them.
TEST(TrainConfig, AnEnsembleIsOfFusionModelsWithoutAPretrainedEncoder) {
  TrainConfig c;
  c.features = "f.h5";
  for (const char* n : {"0", "33", "-1"}) {
    apply_override(c, std::string("model.members=") + n);
    EXPECT_NE(refusal(c).find(std::string("'model.members' is ") + n + "; use 1"),
              std::string::npos)
        << refusal(c);
  }
  apply_override(c, "model.members=5");
  EXPECT_EQ(refusal(c), "");
  EXPECT_NE(to_yaml(c).find("members: 5"), std::string::npos);
  apply_override(c, "model.type=linear");
  EXPECT_NE(refusal(c).find("set model.type fusion or model.members 1"), std::string::npos)
      << refusal(c);
  apply_override(c, "model.type=fusion");
  apply_override(c, "model.text_encoder=minilm-l6");
  EXPECT_NE(refusal(c).find("set model.members 1 with model.text_encoder"), std::string::npos)
      << refusal(c);
  apply_override(c, "model.members=1");
  EXPECT_EQ(refusal(c), "");
  // The share of rows each member learns from: (0, 1], and below 1 only for an ensemble.
  c.model.text_encoder.clear();
  apply_override(c, "model.member_row_share=0.6");
  EXPECT_NE(refusal(c).find("set model.members above 1"), std::string::npos) << refusal(c);
  apply_override(c, "model.members=3");
  EXPECT_EQ(refusal(c), "");
  for (const char* share : {"0", "1.5"}) {
    apply_override(c, std::string("model.member_row_share=") + share);
    EXPECT_NE(refusal(c).find("use a share in (0, 1]"), std::string::npos) << refusal(c);
  }
}


// The configs users are pointed at (README, docs/training.md) load and pass every check
// `tenor train` makes before it opens the store: a key renamed or a value moved out of range
// in a shipped config fails here, not in a user's first run.
TEST(TrainConfig, EveryShippedConfigLoadsAndValidates) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(TENOR_SOURCE_DIR) / "configs")) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    TrainConfig c;
    EXPECT_NO_THROW({
      apply_yaml_file(c, entry.path().string());
      c.validate();
    });
    ++n;
  }
  EXPECT_GE(n, 6);  // demo, demo-linear, epitome, meld, ravdess, text-transformer
}

}  // namespace
}  // namespace tenor::train
