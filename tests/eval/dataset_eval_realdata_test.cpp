// `tenor eval --dataset` on real recordings (../shared/data/ravdess-anger, 48 kHz): a small
// prosody run trained on some actors scores other actors' clips given as a dataset, the
// numbers those of its kept store, and the run is not written into. Skips without the data.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/sha256.h"
#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

using nlohmann::json;

/// A dataset in a new directory: ravdess-anger's dataset.yaml, its audio (linked, never
/// copied) and, of its calls, the first `per_class` of each class in each split of `splits`,
/// put in split `as` ("" keeps theirs).
fs::path ravdess_subset(const fs::path& source, const std::string& name,
                        const std::vector<std::string>& splits, int per_class,
                        const std::string& as = "") {
  const fs::path dir = make_temp_dir(name);
  fs::copy_file(source / "dataset.yaml", dir / "dataset.yaml");
  fs::create_directory_symlink(fs::absolute(source / "audio"), dir / "audio");
  std::ifstream in(source / "calls.jsonl");
  std::ofstream out(dir / "calls.jsonl");
  std::map<std::pair<std::string, int>, int> taken;
  for (std::string line; std::getline(in, line);) {
    json call = json::parse(line);
    const std::string split = call["split"];
    if (std::find(splits.begin(), splits.end(), split) == splits.end()) continue;
    if (taken[{split, call["segments"][0]["labels"]["escalation"].get<int>()}]++ >= per_class)
      continue;
    if (!as.empty()) call["split"] = as;
    out << call.dump() << "\n";
  }
  return dir;
}

std::map<std::string, std::string> file_hashes(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = sha256_file(e.path());
  return out;
}

TEST(RealdataEvalDataset, ARavdessRunScoresOtherActorsAsItsKeptStoreDoes) {
  const std::string shared = shared_data_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared/data is absent";
  const fs::path source = fs::path(shared) / "ravdess-anger";
  if (!fs::exists(source / "calls.jsonl")) GTEST_SKIP() << source << " is absent";
  const fs::path work = make_temp_dir("evalds-ravdess");
  const fs::path train = ravdess_subset(source, "evalds-ravdess-train", {"train", "dev"}, 8);
  const fs::path test = ravdess_subset(source, "evalds-ravdess-test", {"test"}, 8, "test");
  std::string log;
  ASSERT_EQ(run_tenor("data build " + train.string() + " --no-progress --out " +
                          (work / "train.h5").string(),
                      &log),
            0)
      << log;
  std::ofstream(work / "config.yaml")
      << "features: " << (work / "train.h5").string() << "\nout: " << (work / "run").string()
      << "\ntasks: [escalation]\nepochs: 3\nbatch_size: 8\nmodel:\n  type: fusion\n"
         "  use_text: false\n  hidden: 16\n  conv_channels: 8\n";
  ASSERT_EQ(run_tenor("train --config " + (work / "config.yaml").string(), &log), 0) << log;
  const fs::path run = work / "run";
  const auto before = file_hashes(run);

  ASSERT_EQ(run_tenor("eval --run " + run.string() + " --dataset " + test.string() + " --out " +
                          (work / "a").string() + " --keep-store " +
                          (work / "test.h5").string() + " --bootstrap 100 --no-progress",
                      &log),
            0)
      << log;
  ASSERT_EQ(run_tenor("eval --run " + run.string() + " --data " + (work / "test.h5").string() +
                          " --out " + (work / "b").string() + " --bootstrap 100",
                      &log),
            0)
      << log;
  const json a = json::parse(std::ifstream(work / "a/report.json"));
  const json b = json::parse(std::ifstream(work / "b/report.json"));
  EXPECT_EQ(a["tasks"], b["tasks"]);
  EXPECT_EQ(a["dataset"]["name"], "ravdess-anger");
  EXPECT_EQ(a["tasks"][0]["n_labelled"], 16);
  EXPECT_FALSE(a["tasks"][0]["metrics"]["macro_f1"]["value"].is_null());
  EXPECT_EQ(file_hashes(run), before);
}

}  // namespace
}  // namespace tenor::test
