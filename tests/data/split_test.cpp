#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "data/split.h"
#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

/// 60 calls, 20 speakers (3 calls each), one labelled customer segment per call;
/// class 1 is rare (every 6th speaker).
data::Dataset many_calls() {
  data::Dataset ds;
  ds.root = "/nonexistent";
  ds.schema.tasks.push_back(
      {"escalation", data::TaskType::kBinary, {"calm", "escalated"}, "customer"});
  for (int i = 0; i < 60; ++i) {
    data::Call call;
    call.call_id = "c" + std::to_string(i);
    int speaker = i % 20;
    call.meta["speaker_id"] = "s" + std::to_string(speaker);
    data::Segment seg;
    seg.start_s = 0, seg.end_s = 1, seg.speaker = "customer";
    seg.labels["escalation"] = speaker % 6 == 0 ? 1 : 0;
    call.segments.push_back(seg);
    ds.calls.push_back(call);
  }
  return ds;
}

TEST(Split, DisjointSpeakersAndCallsStratifiedAndSeeded) {
  auto ds = many_calls();
  data::SplitOptions options;
  options.train = 0.6, options.dev = 0.2, options.test = 0.2;
  auto a = data::assign_splits(ds, options);
  std::map<std::string, std::set<std::string>> speaker_splits;
  std::map<std::string, int> calls;
  std::map<std::string, int> rare;
  for (const auto& c : a.calls) {
    ASSERT_FALSE(c.split.empty());
    speaker_splits[c.speaker_id()].insert(c.split);
    ++calls[c.split];
    rare[c.split] += c.segments[0].labels.at("escalation");
  }
  for (const auto& [speaker, splits] : speaker_splits) EXPECT_EQ(splits.size(), 1u) << speaker;
  // 20 groups of 3: 12/4/4 groups is exact for 0.6/0.2/0.2.
  EXPECT_EQ(calls["train"], 36);
  EXPECT_EQ(calls["dev"], 12);
  EXPECT_EQ(calls["test"], 12);
  // 4 rare speakers (0, 6, 12, 18) of 3 calls: stratification puts at least one in each split.
  EXPECT_GE(rare["dev"], 3);
  EXPECT_GE(rare["test"], 3);
  auto b = data::assign_splits(ds, options);
  for (size_t i = 0; i < a.calls.size(); ++i) EXPECT_EQ(a.calls[i].split, b.calls[i].split);
  options.seed = 2;
  auto c = data::assign_splits(ds, options);
  int differ = 0;
  for (size_t i = 0; i < a.calls.size(); ++i) differ += a.calls[i].split != c.calls[i].split;
  EXPECT_GT(differ, 0);
}

TEST(Split, ExistingSplitsAreKeptAndFollowedByTheirGroup) {
  auto ds = many_calls();
  ds.calls[0].split = "test";  // speaker s0 -> calls 0, 20, 40 all go to test
  auto a = data::assign_splits(ds, {});
  EXPECT_EQ(a.calls[0].split, "test");
  EXPECT_EQ(a.calls[20].split, "test");
  EXPECT_EQ(a.calls[40].split, "test");
  ds.calls[20].split = "train";
  EXPECT_THROW(data::assign_splits(ds, {}), DataError);
  data::SplitOptions reassign;
  reassign.reassign = true;
  EXPECT_NO_THROW(data::assign_splits(ds, reassign));
}

// `tenor data review`'s folds: the groups of data split (a speaker's calls never in two
// folds), every fold used, the rare class spread over the folds, the same for a seed.
TEST(Split, FoldsKeepSpeakersTogetherAndSpreadTheRareClass) {
  auto ds = many_calls();
  ds.calls[0].split = "test";  // existing splits play no part
  const auto folds = data::assign_folds(ds, 5, 7);
  ASSERT_EQ(folds.size(), ds.calls.size());
  std::map<std::string, std::set<int>> speaker_folds;
  std::map<int, int> size, rare;
  for (size_t i = 0; i < ds.calls.size(); ++i) {
    speaker_folds[ds.calls[i].speaker_id()].insert(folds[i]);
    ++size[folds[i]];
    rare[folds[i]] += ds.calls[i].segments[0].labels["escalation"];
  }
  for (const auto& [speaker, f] : speaker_folds) EXPECT_EQ(f.size(), 1u) << speaker;
  ASSERT_EQ(size.size(), 5u);
  for (const auto& [f, n] : size) {  // 20 speakers of 3 calls: 4 per fold, give or take one
    EXPECT_GE(n, 9) << "fold " << f;
    EXPECT_LE(n, 15) << "fold " << f;
  }
  int folds_with_rare = 0;
  for (const auto& [f, n] : rare) folds_with_rare += n > 0;
  EXPECT_GE(folds_with_rare, 3);  // 4 rare speakers
  EXPECT_EQ(folds, data::assign_folds(ds, 5, 7));
  EXPECT_THROW(data::assign_folds(ds, 21, 7), DataError);  // 20 speakers
  EXPECT_THROW(data::assign_folds(ds, 1, 7), UsageError);
}

// `tenor data split --folds`: every non-test call is dev in exactly one copy, a speaker's
// calls are dev together, and the test split is the same in every copy.
TEST(Split, FoldCopiesKeepTheTestSplitAndMakeEachOtherCallDevOnce) {
  auto ds = many_calls();
  for (auto& call : ds.calls)  // speakers s0-s3 are the test split
    call.split = std::stoi(call.speaker_id().substr(1)) < 4 ? "test" : "";
  data::SplitOptions options;
  options.seed = 3;
  const auto copies = data::fold_datasets(ds, 4, options);
  ASSERT_EQ(copies.size(), 4u);
  for (size_t i = 0; i < ds.calls.size(); ++i) {
    int dev = 0;
    std::set<std::string> splits;
    for (const auto& copy : copies) {
      dev += copy.calls[i].split == "dev";
      splits.insert(copy.calls[i].split);
      EXPECT_EQ(copy.calls[i].call_id, ds.calls[i].call_id);
    }
    if (ds.calls[i].split == "test") {
      EXPECT_EQ(splits, std::set<std::string>{"test"}) << ds.calls[i].call_id;
    } else {
      EXPECT_EQ(dev, 1) << ds.calls[i].call_id;
      EXPECT_EQ(splits, (std::set<std::string>{"dev", "train"})) << ds.calls[i].call_id;
    }
  }
  for (const auto& copy : copies) {
    std::map<std::string, std::set<std::string>> speaker_splits;
    for (const auto& call : copy.calls) speaker_splits[call.speaker_id()].insert(call.split);
    for (const auto& [speaker, splits] : speaker_splits) EXPECT_EQ(splits.size(), 1u) << speaker;
  }
  EXPECT_EQ(data::fold_datasets(ds, 4, options)[2].calls[5].split, copies[2].calls[5].split);
  EXPECT_THROW(data::fold_datasets(ds, 17, options), DataError);  // 16 speakers outside test
}

// Each stratum's first group used to go to the first fold: two speakers of different labels
// made one fold of both and an empty one.
TEST(Split, EveryFoldGetsAGroupWhenEachStratumHoldsOne) {
  auto ds = many_calls();
  ds.calls.resize(2);  // speakers s0 (escalated) and s1 (calm)
  for (uint64_t seed : {1, 2, 3}) {
    const auto folds = data::assign_folds(ds, 2, seed);
    EXPECT_NE(folds[0], folds[1]) << "seed " << seed;
  }
}

// Few groups per stratum all went to train's larger share, leaving dev or test empty: an
// empty split with a share takes a group from the split furthest above its own.
TEST(Split, EverySplitWithAShareGetsAGroupWhileAnotherKeepsOne) {
  auto ds = many_calls();
  ds.calls.resize(3);  // speakers s0 (escalated), s1 and s2 (calm)
  data::SplitOptions options;
  options.train = 0.6, options.dev = 0.2, options.test = 0.2;
  for (uint64_t seed : {1, 2, 3}) {
    options.seed = seed;
    std::map<std::string, int> calls;
    for (const auto& c : data::assign_splits(ds, options).calls) ++calls[c.split];
    EXPECT_EQ(calls["train"], 1) << "seed " << seed;
    EXPECT_EQ(calls["dev"], 1) << "seed " << seed;
    EXPECT_EQ(calls["test"], 1) << "seed " << seed;
  }
  // Two groups for three splits: train keeps one, dev takes the other, test stays empty.
  ds.calls.resize(2);
  std::map<std::string, int> calls;
  for (const auto& c : data::assign_splits(ds, options).calls) ++calls[c.split];
  EXPECT_EQ(calls["train"], 1);
  EXPECT_EQ(calls["dev"], 1);
  EXPECT_EQ(calls["test"], 0);
  // A split given in the input is kept: c0 stays in train, alone.
  ds.calls.resize(3);
  ds.calls[0].split = "train";
  ds.calls[1].split = "train";
  calls.clear();
  for (const auto& c : data::assign_splits(ds, options).calls) ++calls[c.split];
  EXPECT_EQ(calls["train"], 2);
  EXPECT_EQ(calls["dev"] + calls["test"], 1);
}

// Small datasets of uneven groups and strata: no fold and no split with a share is empty
// while there are as many groups as parts.
TEST(Split, NoPartIsEmptyWhileThereAreAsManyGroupsAsParts) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    data::Dataset ds;
    ds.root = "/nonexistent";
    ds.schema.tasks.push_back(
        {"escalation", data::TaskType::kBinary, {"calm", "escalated"}, "customer"});
    const int speakers = 3 + int(rng() % 4);
    for (int i = 0, n = speakers + int(rng() % 6); i < n; ++i) {
      data::Call call;
      call.call_id = "c" + std::to_string(i);
      call.meta["speaker_id"] = "s" + std::to_string(i % speakers);
      for (int k = 0, m = 1 + int(rng() % 5); k < m; ++k) {
        data::Segment seg;
        seg.start_s = k, seg.end_s = k + 1, seg.speaker = "customer";
        seg.labels["escalation"] = int(rng() % 3 == 0);
        call.segments.push_back(seg);
      }
      ds.calls.push_back(call);
    }
    std::set<int> used;
    for (int f : data::assign_folds(ds, 3, trial)) used.insert(f);
    EXPECT_EQ(used.size(), 3u) << "trial " << trial;
    data::SplitOptions options;
    options.seed = uint64_t(trial);
    std::set<std::string> splits;
    for (const auto& c : data::assign_splits(ds, options).calls) splits.insert(c.split);
    EXPECT_EQ(splits.size(), 3u) << "trial " << trial;
  }
}

TEST(Split, RejectsBadRatios) {
  data::SplitOptions o;
  o.train = 0.9;
  EXPECT_THROW(o.validate(), UsageError);
  o.train = 0.8, o.dev = -0.1, o.test = 0.3;
  EXPECT_EQ(thrown_message<UsageError>([&] { o.validate(); }),
            "--dev -0.1 is not a share; split ratios lie between 0 and 1 and add up to 1");
}

TEST(Split, AnUnknownStratifyTaskNamesTheNearestTask) {
  const data::Dataset ds = many_calls();
  data::SplitOptions o;
  o.stratify_task = "escalatoin";
  EXPECT_EQ(thrown_message<UsageError>([&] { data::assign_splits(ds, o); }),
            "--stratify task 'escalatoin' is not in dataset.yaml; did you mean 'escalation'?");
  o.stratify_task = "zzz";
  EXPECT_EQ(thrown_message<UsageError>([&] { data::assign_splits(ds, o); }),
            "--stratify task 'zzz' is not in dataset.yaml; its tasks are escalation");
}

TEST(Split, WritesANewDatasetAndNeverTouchesTheInput) {
  DatasetFixture fx("split-io");
  for (auto& c : fx.calls) c.erase("split");
  fx.write();
  auto before = fs::last_write_time(fx.root / "calls.jsonl");
  auto ds = data::load_dataset_or_throw(fx.root);
  EXPECT_THROW(data::write_derived_dataset(ds, fx.root / "out"), UsageError);  // inside the input
  fs::path out = make_temp_dir("split-out");
  auto assigned = data::assign_splits(ds, {});
  // What a write killed before its rename left beside `out` (PID 4194305: no process) goes.
  const fs::path killed = out.parent_path() / ("." + out.filename().string() + ".tmp-4194305-0");
  fs::create_directories(killed / "audio");
  data::write_derived_dataset(assigned, out);  // empty directory is accepted
  EXPECT_FALSE(fs::exists(killed));
  EXPECT_THROW(data::write_derived_dataset(assigned, out), UsageError);  // now not empty
  auto result = data::validate_dataset(out);
  EXPECT_EQ(result.diagnostics.error_count(), 0u) << result.diagnostics.to_text();
  EXPECT_EQ(before, fs::last_write_time(fx.root / "calls.jsonl"));
  EXPECT_FALSE(fs::exists(fx.root / "out"));
}

}  // namespace
}  // namespace tenor::test
