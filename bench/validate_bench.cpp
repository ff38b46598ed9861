// Benchmark of `tenor data validate`'s engine: manifest parsing throughput and
// whole-dataset validation, on a generated 10,000-call manifest (audio
// referenced: many calls share each generated WAV) and on every set of
// ../shared/data when present. Prints one markdown table; run via bench/run.sh.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "data/audio.h"
#include "data/line_reader.h"
#include "data/validate.h"

namespace fs = std::filesystem;
using namespace tenor::data;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// Writes `files` stereo WAVs of `seconds` each and a manifest of `calls` calls
/// with `segments` segments each, call i referencing WAV i % files.
fs::path make_dataset(int calls, int segments, int files, double seconds) {
  fs::path root = fs::temp_directory_path() / ("tenor-bench-validate-" + std::to_string(calls));
  fs::remove_all(root);
  fs::create_directories(root / "audio");
  const int rate = 8000;
  std::vector<float> samples(static_cast<size_t>(seconds * rate) * 2);
  for (size_t i = 0; i < samples.size(); ++i)
    samples[i] = 0.2f * std::sin(0.05f * static_cast<float>(i));
  for (int f = 0; f < files; ++f)
    write_audio(root / "audio" / ("f" + std::to_string(f) + ".wav"), samples, 2, rate);
  std::ofstream(root / "dataset.yaml")
      << "name: bench\nversion: 1\nlabels:\n"
         "  escalation: {type: ordinal, classes: [calm, frustrated, angry, hostile], speaker: "
         "customer}\n"
         "  empathy: {type: binary, classes: [absent, present], speaker: agent}\n";
  std::ofstream out(root / "calls.jsonl");
  const double turn = seconds / segments;
  for (int c = 0; c < calls; ++c) {
    nlohmann::json call = {
        {"call_id", "call-" + std::to_string(c)},
        {"audio", "audio/f" + std::to_string(c % files) + ".wav"},
        {"channels", {{"agent", 0}, {"customer", 1}}},
        {"split", c % 10 == 0   ? "test"
                  : c % 10 == 1 ? "dev"
                                : "train"},
        {"meta",
         {{"speaker_id", "s" + std::to_string(c / 3)}, {"site", c % 2 ? "north" : "south"}}}};
    auto& segs = call["segments"] = nlohmann::json::array();
    for (int s = 0; s < segments; ++s) {
      bool customer = s % 2 == 0;
      nlohmann::json seg = {{"start", s * turn},
                            {"end", (s + 0.9) * turn},
                            {"speaker", customer ? "customer" : "agent"},
                            {"text", "call " + std::to_string(c) + " turn " + std::to_string(s) +
                                         " I have been waiting for a refund for three weeks now"}};
      if (customer) {
        seg["labels"] = {{"escalation", (c + s) % 4}};
      } else {
        seg["labels"] = {{"empathy", (c + s) % 2}};
      }
      segs.push_back(seg);
    }
    out << call.dump() << "\n";
  }
  return root;
}

void row(const std::string& what, double seconds, const std::string& rate) {
  std::printf("| %s | %.3f | %s |\n", what.c_str(), seconds, rate.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const int calls = argc > 1 ? std::atoi(argv[1]) : 10000;
  const std::string shared = argc > 2 ? argv[2] : "";
  const int segments = 20, files = 100;
  const double seconds = 30;
  auto t0 = Clock::now();
  fs::path root = make_dataset(calls, segments, files, seconds);
  std::fprintf(stderr, "generated %s in %.1f s\n", root.c_str(), since(t0));
  const double manifest_mb = fs::file_size(root / "calls.jsonl") / 1e6;
  double audio_mb = 0;
  for (const auto& e : fs::directory_iterator(root / "audio"))
    audio_mb += fs::file_size(e.path()) / 1e6;

  std::printf("| measurement | seconds | rate |\n|---|---|---|\n");
  // 1. Raw JSON parsing of the manifest with nlohmann::json (the library's ceiling).
  t0 = Clock::now();
  {
    LineReader reader(root / "calls.jsonl", size_t{64} << 20);
    LineReader::Line line;
    size_t n = 0;
    while (reader.next(line)) n += nlohmann::json::parse(line.text).size();
    if (n == 0) return 1;
  }
  double t = since(t0);
  row("parse " + std::to_string(calls) + "-call manifest (" + std::to_string(int(manifest_mb)) +
          " MB), nlohmann only",
      t, std::to_string(int(manifest_mb / t)) + " MB/s");
  // 2. tenor's loader: parsing plus every structural check.
  t0 = Clock::now();
  Diagnostics diag;
  auto ds = load_dataset(root, diag);
  t = since(t0);
  row("load_dataset (parse + structure checks)", t,
      std::to_string(int(manifest_mb / t)) + " MB/s, " + std::to_string(int(calls / t)) +
          " calls/s");
  // 3. Full validation without audio, then with audio (each distinct file streamed once).
  ValidateOptions no_audio;
  no_audio.check_audio = false;
  t0 = Clock::now();
  auto r1 = validate_dataset(root, no_audio);
  t = since(t0);
  row("validate --no-audio", t, std::to_string(int(calls / t)) + " calls/s");
  t0 = Clock::now();
  auto r2 = validate_dataset(root);
  t = since(t0);
  row("validate (" + std::to_string(files) + " WAVs, " + std::to_string(int(audio_mb)) +
          " MB audio)",
      t, std::to_string(int(calls / t)) + " calls/s");
  if (r2.diagnostics.error_count() != 0) {
    std::cerr << r2.diagnostics.to_text();
    return 1;
  }
  // 4. Every shared real set (../shared/data/*): the largest text sets time the duplicate
  // search by transcript, ravdess-anger the audio checks with fingerprints.
  if (!shared.empty() && fs::is_directory(shared)) {
    std::vector<fs::path> sets;
    for (const auto& e : fs::directory_iterator(shared))
      if (fs::exists(e.path() / "dataset.yaml")) sets.push_back(e.path());
    std::sort(sets.begin(), sets.end());
    for (const auto& set : sets) {
      double mb = 0;
      for (const auto& e : fs::recursive_directory_iterator(set))
        if (e.is_regular_file()) mb += double(e.file_size()) / 1e6;
      t0 = Clock::now();
      auto r = validate_dataset(set);
      t = since(t0);
      const auto n = r.dataset.calls.size();
      row("validate " + set.filename().string() + " (" + std::to_string(n) + " calls, " +
              std::to_string(r.audio_files) + " audio files, " + std::to_string(int(mb)) + " MB)",
          t, std::to_string(int(double(n) / t)) + " calls/s");
    }
  }
  fs::remove_all(root);
  return 0;
}
