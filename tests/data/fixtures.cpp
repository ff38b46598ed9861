#include "tests/data/fixtures.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numbers>

#include "data/audio.h"

namespace tenor::test {

const char* const kTwoTaskYaml = R"(name: fixture
version: 1
sample_rate: 16000
labels:
  escalation:
    type: ordinal
    classes: [calm, frustrated, angry, hostile]
    speaker: customer
  empathy:
    type: binary
    classes: [absent, present]
    speaker: agent
)";

fs::path make_temp_dir(const std::string& name) {
  static std::atomic<int> counter{0};
  fs::path dir =
      fs::path(testing::TempDir()) /
      ("tenor-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_text(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
}

void write_float_wav(const fs::path& path, const std::vector<float>& interleaved, int channels,
                     int sample_rate_hz) {
  const auto put = [](std::string& out, uint32_t v, int bytes) {
    for (int b = 0; b < bytes; ++b) out += char((v >> (8 * b)) & 0xFF);
  };
  const auto data_bytes = uint32_t(interleaved.size() * sizeof(float));
  const auto rate = uint32_t(sample_rate_hz), frame_bytes = uint32_t(channels) * 4;
  std::string wav = "RIFF";
  put(wav, 36 + data_bytes, 4);
  wav += "WAVEfmt ";
  put(wav, 16, 4);  // the fmt chunk: IEEE float, channels, rate, byte rate, frame bytes, bits
  put(wav, 3, 2);
  put(wav, uint32_t(channels), 2);
  put(wav, rate, 4);
  put(wav, rate * frame_bytes, 4);
  put(wav, frame_bytes, 2);
  put(wav, 32, 2);
  wav += "data";
  put(wav, data_bytes, 4);
  wav.append(reinterpret_cast<const char*>(interleaved.data()), data_bytes);  // little-endian
  write_text(path, wav);
}

void write_tone(const fs::path& path, double seconds, int sample_rate_hz, int channels,
                double amplitude) {
  fs::create_directories(path.parent_path());
  const size_t frames = static_cast<size_t>(seconds * sample_rate_hz);
  std::vector<float> samples(frames * static_cast<size_t>(channels));
  for (size_t i = 0; i < frames; ++i) {
    double v = std::sin(2 * std::numbers::pi * 220.0 * double(i) / sample_rate_hz);
    for (int c = 0; c < channels; ++c)
      samples[i * static_cast<size_t>(channels) + static_cast<size_t>(c)] =
          static_cast<float>(amplitude * (1.0 + c) / channels * v);
  }
  data::write_audio(path, samples, channels, sample_rate_hz);
}

namespace {
nlohmann::json make_call(const std::string& id, const std::string& split,
                         const std::string& speaker_id, const std::string& word,
                         std::array<int, 2> escalation, std::array<int, 2> empathy) {
  using nlohmann::json;
  return json{{"call_id", id},
              {"audio", "audio/" + id + ".wav"},
              {"channels", {{"agent", 0}, {"customer", 1}}},
              {"split", split},
              {"meta", {{"speaker_id", speaker_id}, {"site", "north"}}},
              {"segments", json::array({
                               {{"start", 0.0},
                                {"end", 0.9},
                                {"speaker", "customer"},
                                {"text", word + " one"},
                                {"labels", {{"escalation", escalation[0]}}}},
                               {{"start", 1.0},
                                {"end", 1.9},
                                {"speaker", "agent"},
                                {"text", word + " two"},
                                {"labels", {{"empathy", empathy[0]}}}},
                               {{"start", 2.0},
                                {"end", 2.9},
                                {"speaker", "customer"},
                                {"text", word + " three"},
                                {"labels", {{"escalation", escalation[1]}}}},
                               {{"start", 3.0},
                                {"end", 3.9},
                                {"speaker", "agent"},
                                {"text", word + " four"},
                                {"labels", {{"empathy", empathy[1]}}}},
                           })}};
}
}  // namespace

DatasetFixture::DatasetFixture(const std::string& name) : root(make_temp_dir(name)) {
  calls.push_back(make_call("c1", "train", "spk-1", "alpha", {0, 1}, {0, 1}));
  calls.push_back(make_call("c2", "test", "spk-2", "beta", {2, 3}, {1, 0}));
  for (const auto& c : calls) write_tone(root / c["audio"].get<std::string>(), 4.0);
}

void DatasetFixture::write() const {
  write_text(root / "dataset.yaml", yaml);
  std::string lines;
  for (const auto& c : calls) lines += c.dump() + "\n";
  write_text(root / "calls.jsonl", lines);
}

data::ValidationResult DatasetFixture::validate(const data::ValidateOptions& options) const {
  write();
  return data::validate_dataset(root, options);
}

int run_command(const std::string& cmd, std::string* output) {
  FILE* pipe = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int status = ::pclose(pipe);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int run_tenor(const std::string& args, std::string* output) {
  return run_command(std::string(TENOR_BINARY) + " " + args, output);
}

int run_tenor_unprivileged(const std::string& args, std::string* output) {
  if (::geteuid() != 0) return run_tenor(args, output);
  std::error_code ec;
  if (!fs::exists("/usr/bin/setpriv", ec)) return -2;
  return run_command("/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups " +
                         std::string(TENOR_BINARY) + " " + args,
                     output);
}

std::string shared_data_dir() {
  std::error_code ec;
  return fs::is_directory(TENOR_SHARED_DATA, ec) ? std::string(TENOR_SHARED_DATA) : std::string();
}

}  // namespace tenor::test
