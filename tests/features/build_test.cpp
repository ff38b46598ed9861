// `tenor data build` end to end on generated fixtures: layout, values, resume after SIGKILL.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <thread>
#include <tuple>

#include "core/file_lock.h"
#include "data/audio.h"
#include "data/dataset.h"
#include "data/features/build.h"
#include "data/features/lld_config.h"
#include "data/features/store.h"
#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

/// Adds calls c3..c<n> (copies of c1 and c2 with their own audio) to the fixture.
void add_calls(DatasetFixture& fx, int n) {
  for (int i = 3; i <= n; ++i) {
    auto call = fx.calls[size_t(i % 2)];
    call["call_id"] = "c" + std::to_string(i);
    call["audio"] = "audio/c" + std::to_string(i) + ".wav";
    call["meta"]["speaker_id"] = "spk-" + std::to_string(i);
    write_tone(fx.root / call["audio"].get<std::string>(), 4.0);
    fx.calls.push_back(call);
  }
}

features::BuildOptions quiet_options(int calls_per_part) {
  features::BuildOptions options;
  options.progress = false;
  options.calls_per_part = calls_per_part;
  return options;
}

/// Makes writing `part` of the build into `out` fail (a non-empty directory where the part
/// file goes), so that a build stops there as if it had been killed; returns the blocker.
fs::path block_part(const fs::path& out, const std::string& part) {
  fs::path blocker = out.string() + ".parts/" + part;
  fs::create_directories(blocker);
  write_text(blocker / "keep", "x");
  return blocker;
}

void expect_same_store(const fs::path& expected, const fs::path& actual) {
  auto a = features::read_store(expected);
  auto b = features::read_store(actual);
  ASSERT_EQ(a.segments.size(), b.segments.size());
  for (size_t i = 0; i < a.segments.size(); ++i) {
    EXPECT_EQ(a.segments[i].call_id, b.segments[i].call_id) << "row " << i;
    EXPECT_EQ(a.segments[i].segment, b.segments[i].segment) << "row " << i;
  }
  EXPECT_EQ(a.functionals, b.functionals);
  EXPECT_EQ(a.frames, b.frames);
  EXPECT_EQ(a.tokens, b.tokens);
}

TEST(E2eBuild, StoreHoldsEverySegmentWithFiniteFeatures) {
  DatasetFixture fx("build");
  fx.write();
  fs::path out = make_temp_dir("build-out") / "features.h5";
  features::BuildOptions options;
  options.progress = false;
  options.calls_per_part = 1;
  auto report = features::build_feature_store(fx.root, out, options);
  EXPECT_EQ(report.segments, 8u);
  EXPECT_EQ(report.calls, 2u);
  EXPECT_FALSE(fs::exists(out.string() + ".parts"));
  auto s = features::read_store(out);
  ASSERT_EQ(s.segments.size(), 8u);
  EXPECT_EQ(s.meta.feature_set_version, features::kFeatureSetVersion);
  EXPECT_EQ(s.meta.dataset_name, "fixture");
  EXPECT_FALSE(s.meta.tokenizer_sha256.empty());
  EXPECT_EQ(s.layout.tasks, (std::vector<std::string>{"escalation", "empathy"}));
  EXPECT_EQ(s.segments[0].labels, (std::vector<int32_t>{0, -1}));
  EXPECT_EQ(s.segments[1].labels, (std::vector<int32_t>{-1, 0}));
  EXPECT_EQ(s.segments[4].split, "test");
  // 0.9 s segments at a 10 ms hop: 90 frames each.
  EXPECT_EQ(s.frame_offsets[1] - s.frame_offsets[0], 90);
  for (float v : s.frames) ASSERT_TRUE(std::isfinite(v));
  for (float v : s.functionals) ASSERT_TRUE(std::isfinite(v));
  EXPECT_GT(s.token_offsets.back(), 0);
  // The customer channel (1) carries the louder tone: intensity of customer > agent segments.
  size_t col = 0;
  while (s.layout.functional_columns[col] != "intensity_db_mean") ++col;
  const size_t nf = s.layout.functional_columns.size();
  EXPECT_GT(s.functionals[0 * nf + col],
            s.functionals[1 * nf + col] + 3.0);  // 6 dB apart in theory
}

/// Per (call, segment): the LLD frames and functionals extract_features gives it.
struct ExtractedRow {
  std::vector<float> frames, functionals;
};
using Extracted = std::map<std::pair<std::string, int>, ExtractedRow>;

Extracted extract_in_groups(const data::Dataset& ds, double group_s, size_t& groups,
                            size_t& most_frames_held) {
  features::BuildOptions options;
  options.progress = false;
  options.device = "cpu";
  Extracted out;
  features::extract_features(
      ds, options, "", group_s, [&](features::Store& s, const std::vector<int64_t>& rows) {
        ++groups;
        most_frames_held = std::max(most_frames_held, s.frames.size());
        const size_t nf = s.layout.functional_columns.size(), nl = s.layout.lld_columns.size();
        for (int64_t r : rows) {
          ExtractedRow row;
          row.frames.assign(s.frames.begin() + s.frame_offsets[size_t(r)] * long(nl),
                            s.frames.begin() + s.frame_offsets[size_t(r) + 1] * long(nl));
          row.functionals.assign(s.functionals.begin() + long(size_t(r) * nf),
                                 s.functionals.begin() + long(size_t(r + 1) * nf));
          out[{s.segments[size_t(r)].call_id, s.segments[size_t(r)].segment}] = row;
        }
      });
  return out;
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 1e30;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::fabs(double(a[i]) - b[i]) / (1 + std::fabs(b[i])));
  return worst;
}

// `tenor predict`'s path: a call's features computed group by group (memory of one group)
// equal those of the whole call at once, relative-to-baseline functionals included
// (tolerance 1e-4 relative: LLD batches of other compositions differ in the last bits).
TEST(E2eBuild, FeaturesInGroupsEqualTheWholeCallAndHoldOneGroupsFrames) {
  DatasetFixture fx("grouped");
  fx.write();
  auto ds = data::load_dataset_or_throw(fx.root);
  size_t whole_groups = 0, whole_held = 0, groups = 0, held = 0;
  auto whole = extract_in_groups(ds, 1e9, whole_groups, whole_held);
  auto grouped = extract_in_groups(ds, 1.0, groups, held);  // 0.9 s segments: one per group
  EXPECT_EQ(whole_groups, 2u) << "one group per call";
  EXPECT_EQ(groups, 8u);
  EXPECT_EQ(held * 4, whole_held) << "a group holds one segment's frames, not the call's four";
  ASSERT_EQ(whole.size(), 8u);
  ASSERT_EQ(grouped.size(), 8u);
  for (const auto& [key, row] : whole) {
    const auto& g = grouped.at(key);
    EXPECT_EQ(g.frames.size(), row.frames.size());
    EXPECT_LE(max_rel_diff(g.frames, row.frames), 1e-4) << key.first << " #" << key.second;
    EXPECT_LE(max_rel_diff(g.functionals, row.functionals), 1e-4)
        << key.first << " #" << key.second;
  }
}

// What a model's store check reads before any extraction (`tenor eval --dataset`): the built
// store's rows, layout, classes and tokens, without reading audio.
TEST(E2eBuild, TheOutlineHoldsTheStoresRowsWithoutReadingAudio) {
  DatasetFixture fx("build-outline");
  fx.write();
  const fs::path out = make_temp_dir("build-outline-out") / "f.h5";
  features::build_feature_store(fx.root, out, quiet_options(16));
  const features::Store built = features::read_store(out);
  fs::remove_all(fx.root / "audio");
  const features::Store outline = features::store_outline(
      data::load_dataset_or_throw(fx.root), quiet_options(16), built.tokenizer_model);
  ASSERT_EQ(outline.segments.size(), built.segments.size());
  for (size_t i = 0; i < built.segments.size(); ++i) {
    const auto &a = built.segments[i], &b = outline.segments[i];
    EXPECT_EQ(std::tie(a.call_id, a.segment, a.speaker, a.split, a.start_s, a.end_s, a.labels,
                       a.meta),
              std::tie(b.call_id, b.segment, b.speaker, b.split, b.start_s, b.end_s, b.labels,
                       b.meta))
        << "row " << i;
  }
  EXPECT_EQ(outline.layout.lld_columns, built.layout.lld_columns);
  EXPECT_EQ(outline.layout.functional_columns, built.layout.functional_columns);
  EXPECT_EQ(outline.layout.tasks, built.layout.tasks);
  EXPECT_EQ(outline.task_classes, built.task_classes);
  EXPECT_EQ(outline.tokens, built.tokens);
  EXPECT_EQ(outline.token_offsets, built.token_offsets);
  EXPECT_EQ(outline.meta.extractor_config, built.meta.extractor_config);
  EXPECT_EQ(outline.meta.tokenizer_sha256, built.meta.tokenizer_sha256);
  EXPECT_EQ(outline.frame_offsets, std::vector<int64_t>(built.segments.size() + 1, 0));
  EXPECT_EQ(outline.functionals.size(), built.functionals.size());
}

TEST(E2eBuild, BadAudioStopsOrIsSkippedWithKeepGoing) {
  DatasetFixture fx("build-bad");
  fx.write();
  write_text(fx.root / "audio/c2.wav", "not audio at all");
  fs::path out = make_temp_dir("build-bad-out") / "features.h5";
  features::BuildOptions options;
  options.progress = false;
  try {
    features::build_feature_store(fx.root, out, options);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("call c2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--keep-going"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(out));
  options.keep_going = true;
  auto report = features::build_feature_store(fx.root, out, options);
  ASSERT_EQ(report.skipped.size(), 1u);
  EXPECT_EQ(report.skipped[0].rfind("c2: ", 0), 0u);
  auto s = features::read_store(out);
  EXPECT_EQ(s.segments.size(), 4u);
  EXPECT_EQ(s.meta.skipped_calls.size(), 1u);
}

TEST(E2eBuild, ResumesAfterSigkillAndMatchesAnUninterruptedBuild) {
  // 12 calls, one per part, so a kill lands between parts.
  DatasetFixture fx("build-resume");
  for (int i = 3; i <= 12; ++i) {
    auto call = fx.calls[i % 2];
    call["call_id"] = "c" + std::to_string(i);
    call["meta"]["speaker_id"] = "spk-" + std::to_string(i);
    fx.calls.push_back(call);
  }
  fx.write();
  fs::path dir = make_temp_dir("build-resume-out");
  const std::string args =
      "data build " + fx.root.string() + " --calls-per-part 1 --no-progress --out ";
  ASSERT_EQ(run_tenor(args + (dir / "full.h5").string()), 0);

  fs::path out = dir / "resumed.h5";
  pid_t pid = fork();
  if (pid == 0) {
    execl(TENOR_BINARY, TENOR_BINARY, "data", "build", fx.root.c_str(), "--calls-per-part", "1",
          "--no-progress", "--out", out.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  bool killed_midway = false;
  for (int i = 0; i < 6000; ++i) {
    std::error_code ec;
    if (fs::exists(out.string() + ".parts/part-00002.bin", ec) && !fs::exists(out, ec)) {
      kill(pid, SIGKILL);
      killed_midway = true;
      break;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (pid > 0) waitpid(pid, nullptr, 0);
  ASSERT_TRUE(killed_midway) << "the build finished before it could be interrupted";
  EXPECT_FALSE(fs::exists(out));  // never half-written
  std::string log;
  ASSERT_EQ(run_tenor(args + out.string(), &log), 0) << log;
  EXPECT_NE(log.find("resumed"), std::string::npos) << log;
  auto a = features::read_store(dir / "full.h5");
  auto b = features::read_store(out);
  EXPECT_EQ(a.functionals, b.functionals);
  EXPECT_EQ(a.frames, b.frames);
  EXPECT_EQ(a.tokens, b.tokens);
  ASSERT_EQ(a.segments.size(), b.segments.size());
  for (size_t i = 0; i < a.segments.size(); ++i)
    EXPECT_EQ(a.segments[i].call_id, b.segments[i].call_id);
}

TEST(E2eBuild, RefusesToResumeWithAnotherConfiguration) {
  DatasetFixture fx("build-config");
  fx.write();
  fs::path out = make_temp_dir("build-config-out") / "f.h5";
  fs::create_directories(out.string() + ".parts");
  { std::ofstream(out.string() + ".parts/state.json") << "{\"other\": 1}"; }
  features::BuildOptions options;
  options.progress = false;
  EXPECT_THROW(features::build_feature_store(fx.root, out, options), DataError);
  options.restart = true;
  EXPECT_NO_THROW(features::build_feature_store(fx.root, out, options));
}

TEST(E2eBuild, ResumeWithAnotherCallsPerPartStoresEveryCallOnce) {
  DatasetFixture fx("build-repart");
  add_calls(fx, 12);
  fx.write();
  const fs::path dir = make_temp_dir("build-repart-out");
  features::build_feature_store(fx.root, dir / "full.h5", quiet_options(16));
  // Builds `out` with `first` calls per part until the write of part `stop` fails, then resumes
  // with `then` calls per part: the result must equal the uninterrupted build.
  auto interrupt_and_resume = [&](const fs::path& out, int stop, int first, int then) {
    const std::string stopped = "part-0000" + std::to_string(stop) + ".bin";
    const std::string kept = "part-0000" + std::to_string(stop - 1) + ".bin";
    fs::path blocker = block_part(out, stopped);
    EXPECT_THROW(features::build_feature_store(fx.root, out, quiet_options(first)), Error);
    ASSERT_TRUE(fs::exists(out.string() + ".parts/" + kept));
    fs::remove_all(blocker);
    features::build_feature_store(fx.root, out, quiet_options(then));
    expect_same_store(dir / "full.h5", out);
  };
  // Stopped after 2 parts of 4 calls (c1..c8), resumed with 5 per part: the old parts do not
  // hold the calls the new ones would, so reusing them would lose c9 and c10.
  interrupt_and_resume(dir / "fewer.h5", 2, 4, 5);
  // Stopped after 1 part of 5 calls, resumed with 2 per part: reusing it would store c3..c5
  // twice.
  interrupt_and_resume(dir / "more.h5", 1, 5, 2);
}

TEST(E2eBuild, CorruptedPartIsNotResumedFrom) {
  DatasetFixture fx("build-corrupt");
  fx.write();
  const fs::path dir = make_temp_dir("build-corrupt-out");
  features::build_feature_store(fx.root, dir / "full.h5", quiet_options(1));
  const fs::path out = dir / "f.h5";
  fs::path blocker = block_part(out, "part-00001.bin");
  EXPECT_THROW(features::build_feature_store(fx.root, out, quiet_options(1)), Error);
  fs::remove_all(blocker);
  // One byte of the part's LLD frames flipped, as a bad disk or a careless edit would.
  const fs::path part = out.string() + ".parts/part-00000.bin";
  ASSERT_TRUE(fs::exists(part));
  {
    std::fstream f(part, std::ios::in | std::ios::out | std::ios::binary);
    const auto at = std::streamoff(fs::file_size(part) / 2);
    f.seekg(at);
    char c = 0;
    f.get(c);
    f.seekp(at);
    f.put(char(c ^ 0x5a));
  }
  // A store half-written by a build killed while assembling it: removed, never left behind.
  write_text(dir / ".f.h5.tmp-99999-0", "half a store");
  features::build_feature_store(fx.root, out, quiet_options(1));
  expect_same_store(dir / "full.h5", out);
  EXPECT_FALSE(fs::exists(dir / ".f.h5.tmp-99999-0"));
}

TEST(E2eBuild, SecondBuildIntoTheSameOutputIsRefusedWithTheHoldersPid) {
  DatasetFixture fx("build-lock");
  fx.write();
  const fs::path out = make_temp_dir("build-lock-out") / "f.h5";
  const std::string args = "data build " + fx.root.string() + " --no-progress --out " + out.string();
  {
    // This test process plays the first build: it holds the output's lock.
    FileLock held(out.string() + ".lock", "the feature store " + out.string());
    std::string log;
    EXPECT_EQ(run_tenor(args, &log), 1) << log;
    EXPECT_NE(log.find("pid " + std::to_string(::getpid())), std::string::npos) << log;
    EXPECT_EQ(log.find("delete"), std::string::npos) << log;
    EXPECT_EQ(log.find("--restart"), std::string::npos) << log;
    EXPECT_FALSE(fs::exists(out.string() + ".parts"));  // the winner's work is not touched
    EXPECT_FALSE(fs::exists(out));
  }
  std::string log;
  EXPECT_EQ(run_tenor(args, &log), 0) << log;
  EXPECT_TRUE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out.string() + ".lock"));
}

TEST(E2eBuild, OfTwoConcurrentBuildsTheSecondIsRefusedAndTheFirstFinishes) {
  DatasetFixture fx("build-race");
  add_calls(fx, 6);
  fx.write();
  const fs::path out = make_temp_dir("build-race-out") / "f.h5";
  pid_t first = fork();
  if (first == 0) {
    execl(TENOR_BINARY, TENOR_BINARY, "data", "build", fx.root.c_str(), "--calls-per-part", "1",
          "--no-progress", "--out", out.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Once the first build holds the lock, freeze it there, so the second surely overlaps it.
  const std::string holder = "pid " + std::to_string(first);
  bool holding = false;
  for (int i = 0; i < 6000 && !holding; ++i) {
    std::ifstream lock(out.string() + ".lock");
    std::string line;
    holding = std::getline(lock, line) && line.rfind(holder, 0) == 0;
    if (holding)
      kill(first, SIGSTOP);
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::string log;
  const int second = run_tenor("data build " + fx.root.string() + " --no-progress --out " +
                                   out.string(), &log);
  kill(first, SIGCONT);
  int status = 0;
  waitpid(first, &status, 0);
  ASSERT_TRUE(holding) << "the first build never held the lock";
  EXPECT_EQ(second, 1) << log;
  EXPECT_NE(log.find(holder), std::string::npos) << log;
  EXPECT_EQ(log.find("delete"), std::string::npos) << log;
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the first build failed";
  EXPECT_EQ(features::read_store(out).segments.size(), 24u);
  EXPECT_FALSE(fs::exists(out.string() + ".parts"));
}

TEST(E2eBuild, AudioThatValidateRejectsIsRefusedOrSkippedAndListed) {
  DatasetFixture fx("build-audio");
  add_calls(fx, 8);
  // c3: the header promises 4 s, the file holds 2; c4: no samples at all; c5: a segment ends
  // past the 4 s of audio; c6: a segment ends at 1e308 s; c7 is sound; c8 shares c3's file
  // (validate reports the file once, on c3).
  fs::resize_file(fx.root / "audio/c3.wav", fs::file_size(fx.root / "audio/c3.wav") / 2);
  fx.calls[7]["audio"] = "audio/c3.wav";
  fx.calls[7]["segments"].erase(3);  // its other segments lie within the 2 s the file holds
  fx.calls[7]["segments"].erase(2);
  data::write_audio(fx.root / "audio/c4.wav", {}, 2, 16000);
  fx.calls[4]["segments"][3]["end"] = 5.5;
  fx.calls[5]["segments"][3]["end"] = 1e308;
  fx.write();
  const fs::path out = make_temp_dir("build-audio-out") / "f.h5";
  const std::string message = thrown_message<DataError>(
      [&] { features::build_feature_store(fx.root, out, quiet_options(16)); });
  ASSERT_FALSE(message.empty()) << "bad audio was accepted";
  for (const char* expected : {"calls.jsonl:3", "truncated", "calls.jsonl:4", "no samples",
                               "calls.jsonl:5", "5.5", "calls.jsonl:6", "1e+308", "--keep-going"})
    EXPECT_NE(message.find(expected), std::string::npos) << expected << " in: " << message;
  EXPECT_EQ(message.find("calls.jsonl:7"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(out));

  auto options = quiet_options(16);
  options.keep_going = true;
  const auto report = features::build_feature_store(fx.root, out, options);
  ASSERT_EQ(report.skipped.size(), 5u);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(report.skipped[i].rfind("c" + std::to_string(i + 3) + ": ", 0), 0u)
        << report.skipped[i];
  EXPECT_EQ(report.skipped[4].rfind("c8: ", 0), 0u) << report.skipped[4];
  EXPECT_NE(report.skipped[4].find("truncated"), std::string::npos) << report.skipped[4];
  const auto s = features::read_store(out);
  EXPECT_EQ(s.segments.size(), 12u);  // c1, c2, c7
  EXPECT_EQ(s.meta.skipped_calls, report.skipped);
  for (const auto& seg : s.segments)
    EXPECT_GT(s.frame_offsets[size_t(&seg - s.segments.data()) + 1] -
                  s.frame_offsets[size_t(&seg - s.segments.data())],
              0)
        << seg.call_id << " segment " << seg.segment;
}

}  // namespace
}  // namespace tenor::test
