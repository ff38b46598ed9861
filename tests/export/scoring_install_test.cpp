// tenor::scoring as a product gets it (issue 21, item 2): `cmake --install` into a temporary
// prefix, examples/score_call/ configured and built out of tree against that prefix alone
// (find_package(tenor)), and run on a generated stereo call from three threads at once on one
// loaded bundle: every thread gets the scores `tenor predict --bundle` gives the same WAV
// (1e-6, same decisions), and its stream mode (windows) scores as the whole call. A call the
// library must refuse is refused with the fix.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <sstream>

#include "core/atomic_file.h"
#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"

namespace tenor::test {
namespace {
using nlohmann::json;

/// `command` run by the shell; its exit status, its stdout and stderr in `output`.
int shell(const std::string& command, std::string* output) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  output->clear();
  std::array<char, 4096> buf;
  for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0;) output->append(buf.data(), n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct Line {
  int segment;
  std::string speaker, task, decision;
  double start_s, end_s;
  std::vector<double> calibrated;
};

/// score_call's output: "segment speaker start end task decision p...".
std::vector<Line> parse_lines(const std::string& text) {
  std::vector<Line> out;
  std::istringstream in(text);
  for (std::string row; std::getline(in, row);) {
    std::istringstream f(row);
    Line l;
    if (!(f >> l.segment >> l.speaker >> l.start_s >> l.end_s >> l.task >> l.decision)) continue;
    for (double p; f >> p;) l.calibrated.push_back(p);
    out.push_back(l);
  }
  return out;
}

TEST(ScoringInstall, ExampleBuiltAgainstTheInstalledPackageScoresAsTenorPredict) {
  const fs::path work = make_temp_dir("scoring-install");
  const fs::path prefix = work / "prefix", example = work / "example";
  std::string out;
  ASSERT_EQ(shell("cmake --install " + std::string(TENOR_BUILD_DIR) + " --prefix " +
                      prefix.string(),
                  &out),
            0)
      << out;
  for (const char* f : {"bin/tenor", "include/tenor/scoring/scoring.h", "include/tenor/core/error.h",
                        "lib/cmake/tenor/tenorConfig.cmake", "lib/libtenor_scoring.a"})
    EXPECT_TRUE(fs::exists(prefix / f)) << f;
  // The public header needs no LibTorch: it includes nothing of torch, ONNX or HDF5.
  const std::string header = read_file(prefix / "include/tenor/scoring/scoring.h");
  for (const char* h : {"torch/", "ATen", "onnx", "hdf5", "nlohmann"})
    EXPECT_EQ(header.find(std::string("#include <") + h), std::string::npos) << h;
  EXPECT_EQ(shell((prefix / "bin/tenor").string() + " --version", &out), 0) << out;
  // Out of tree, against the prefix only.
  ASSERT_EQ(shell("cmake -S " + std::string(TENOR_SOURCE_DIR) + "/examples/score_call -B " +
                      example.string() + " -G Ninja -DCMAKE_BUILD_TYPE=Release " +
                      "-DCMAKE_PREFIX_PATH=" + prefix.string() + " && cmake --build " +
                      example.string(),
                  &out),
            0)
      << out;

  const fs::path bundle = exported_bundle();  // linear, on stereo calls (agent 0, customer 1)
  const fs::path wav = tiny_dataset() / "audio" / "c14.wav";
  // Stereo without a mapping: the bundle's training calls' (agent=0, customer=1); three threads.
  // A product outside the prefix names the installed ONNX Runtime runner (docs/export.md).
  ASSERT_TRUE(fs::exists(prefix / "share/tenor/ort/run.js"));
  ASSERT_EQ(shell("TENOR_ORT_DIR=" + (prefix / "share/tenor/ort").string() + " " +
                      (example / "score_call").string() + " " + bundle.string() + " " +
                      wav.string() + " --threads 3",
                  &out),
            0)
      << out;
  const auto lines = parse_lines(out);
  const fs::path pred = work / "pred.json";
  std::string log;
  ASSERT_EQ(run_tenor("--log-level error predict --bundle " + bundle.string() + " " +
                          wav.string() + " --channels agent=0,customer=1 --out " + pred.string(),
                      &log),
            0)
      << log;
  std::vector<Line> want;
  const json predicted = json::parse(read_file(pred));
  for (const json& s : predicted["segments"])
    for (const auto& item : s["tasks"].items()) {
      Line l;
      l.segment = s["segment"].get<int>();
      l.speaker = s["speaker"].get<std::string>();
      l.task = item.key();
      l.decision = item.value()["decision"].get<std::string>();
      l.start_s = s["start_s"].get<double>();
      l.end_s = s["end_s"].get<double>();
      l.calibrated = item.value()["calibrated"].get<std::vector<double>>();
      want.push_back(l);
    }
  ASSERT_EQ(lines.size(), want.size()) << out;
  ASSERT_FALSE(want.empty());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(lines[i].segment, want[i].segment);
    EXPECT_EQ(lines[i].speaker, want[i].speaker);
    EXPECT_EQ(lines[i].task, want[i].task);
    EXPECT_EQ(lines[i].decision, want[i].decision) << i;
    EXPECT_NEAR(lines[i].start_s, want[i].start_s, 1e-6);
    ASSERT_EQ(lines[i].calibrated.size(), want[i].calibrated.size());
    for (size_t c = 0; c < want[i].calibrated.size(); ++c)
      EXPECT_NEAR(lines[i].calibrated[c], want[i].calibrated[c], 1e-6) << i << " " << c;
  }
  // The installed stream without turn events: 10-second windows per role while the audio is
  // pushed in 100 ms chunks; their final scores equal the whole call's (the example checks it).
  ASSERT_EQ(shell("TENOR_ORT_DIR=" + (prefix / "share/tenor/ort").string() + " " +
                      (example / "score_call").string() + " " + bundle.string() + " " +
                      wav.string() + " --stream",
                  &out),
            0)
      << out;
  EXPECT_FALSE(parse_lines(out).empty()) << out;
  // Three channels: no mapping fits; the library says how to give one (a usage error: 2).
  write_tone(work / "three.wav", 3.0, 16000, 3);
  EXPECT_EQ(shell("TENOR_ORT_DIR=" + (prefix / "share/tenor/ort").string() + " " +
                      (example / "score_call").string() + " " + bundle.string() + " " +
                      (work / "three.wav").string(),
                  &out),
            2)
      << out;
  EXPECT_NE(out.find("has 3 channels"), std::string::npos) << out;
  EXPECT_NE(out.find("--mix"), std::string::npos) << out;
}

}  // namespace
}  // namespace tenor::test
