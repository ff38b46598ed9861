// The native Whisper encoder (data/features/speech_encoder.h) against Hugging Face
// `transformers` on the same weights (Whisper tiny.en, fetched by tools/text-encoders/fetch.sh)
// and audio: the log-mel of WhisperFeatureExtractor and the states of WhisperEncoder within
// 1e-4 in fp32. The reference runs through tools/text-encoders/reference.sh; the comparison is
// skipped when no torch is installed for it. Damaged model files are refused with the fix.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "tests/data/fixtures.h"
#include "tests/features/json_tensor.h"
#include "tests/features/text_encoder_dir.h"
#include "data/features/speech_encoder.h"

namespace tenor::features {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

fs::path whisper_dir() { return test::speech_encoder_dir("whisper-tiny-en"); }

/// Two clips unlike each other: a loud rising chirp with a little noise (1.5 s) and a quiet
/// vowel-like buzz, amplitude-modulated (2.4 s); the second row is the longer.
torch::Tensor clips() {
  const auto t = torch::arange(38400, torch::kDouble) / 16000.0;
  const auto chirp = 0.3 * torch::sin(2 * M_PI * (200 * t + 300 * t * t)) +
                     0.01 * torch::randn({38400}, torch::kDouble);
  auto buzz = torch::zeros_like(t);
  for (int h = 1; h <= 8; ++h) buzz += torch::sin(2 * M_PI * 140 * h * t) / h;
  buzz *= 0.02 * (1 + 0.5 * torch::sin(2 * M_PI * 3 * t));
  auto out = torch::stack({chirp, buzz}).to(torch::kFloat);
  out[0].slice(0, 24000) = 0;  // the first clip is 1.5 s
  return out;
}

TEST(SpeechEncoder, SameLogMelAndStatesAsHuggingFaceTransformers) {
  const fs::path dir = whisper_dir();  // scripts/install-deps.sh fetches it
  torch::manual_seed(7);
  WhisperEncoder encoder = load_whisper_encoder(dir);
  const auto audio = clips();
  const std::vector<int64_t> samples = {24000, 38400};
  constexpr int64_t kFrames = 160;  // the states compared: past both clips' 75 and 120

  const fs::path work = test::make_temp_dir("whisper-ref");
  json in = {{"samples", samples}, {"frames", kFrames}, {"audio", json::array()}};
  for (int64_t b = 0; b < 2; ++b) {
    auto row = audio[b].contiguous();
    const float* first = row.data_ptr<float>();
    in["audio"].push_back(std::vector<float>(first, first + row.numel()));
  }
  write_file_atomic(work / "audio.json", in.dump());
  const std::string cmd = std::string(TENOR_SOURCE_DIR) +
                          "/tools/text-encoders/reference.sh whisper " + dir.string() + " " +
                          (work / "audio.json").string() + " " + (work / "out.json").string();
  const int rc = std::system(cmd.c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 3) GTEST_SKIP() << "no torch for the reference";
  ASSERT_EQ(rc, 0) << cmd;
  const json ref = json::parse(read_file(work / "out.json"));

  torch::NoGradGuard no_grad;
  auto padded = torch::zeros({2, whisper::kWindowSamples});
  padded.slice(1, 0, audio.size(1)) = audio;
  const auto mel = whisper::log_mel(padded, encoder->filters);
  const auto ref_mel = test::json_tensor(ref["mel"]);
  ASSERT_EQ(mel.sizes(), ref_mel.sizes());
  const double worst_mel = (mel.to(torch::kDouble) - ref_mel).abs().max().item<double>();

  // The encoder on the reference's own log-mel, so that each comparison stands alone.
  const auto states = encoder->forward(ref_mel.to(torch::kFloat)).slice(1, 0, kFrames);
  const double worst_states =
      (states.to(torch::kDouble) - test::json_tensor(ref["states"])).abs().max().item<double>();
  // The states of the first frames only (what pooled asks the last block for) are those frames'
  // of the whole forward, each frame still attending over the padding.
  const auto first = encoder->forward(ref_mel.to(torch::kFloat), kFrames);
  ASSERT_EQ(first.size(1), kFrames);
  EXPECT_LT((first - states).abs().max().item<double>(), 1e-5);
  const auto pooled = encoder->pooled(audio, samples);
  const double worst_pooled =
      (pooled.to(torch::kDouble) - test::json_tensor(ref["pooled"])).abs().max().item<double>();
  std::printf("Whisper tiny.en, tenor vs transformers %s: max |delta| log-mel %.3g, "
              "states %.3g, pooled from audio %.3g\n",
              ref["transformers"].get<std::string>().c_str(), worst_mel, worst_states,
              worst_pooled);
  EXPECT_LT(worst_mel, 1e-4);
  EXPECT_LT(worst_states, 1e-4);
  EXPECT_LT(worst_pooled, 1e-4);
  // Not a comparison of zeros: the two clips' states differ, and the log-mel spans its range.
  EXPECT_GT((pooled[0] - pooled[1]).abs().max().item<double>(), 0.1);
  EXPECT_GT(mel.max().item<double>() - mel.min().item<double>(), 1.0);
  fs::remove_all(work);
}

TEST(SpeechEncoder, RefusesMissingDamagedAndForeignModelFiles) {
  const fs::path work = test::make_temp_dir("whisper-bad");
  auto message = [](const fs::path& dir) {
    try {
      load_whisper_encoder(dir);
    } catch (const DataError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  {
    const std::string m = message(work);
    EXPECT_NE(m.find("model.bin is missing; fetch the encoder: tools/text-encoders/fetch.sh "
                     "whisper-tiny-en"),
              std::string::npos)
        << m;
  }
  // version 5
  std::string bytes("\x05\x00\x00\x00", 4);
  write_file_atomic(work / "model.bin", bytes);
  EXPECT_NE(message(work).find("binary version 5; tenor reads version 6"), std::string::npos)
      << message(work);
  // version 6, a spec name, then nothing
  bytes = std::string("\x06\x00\x00\x00\x04\x00Spe\x00", 10);
  write_file_atomic(work / "model.bin", bytes);
  EXPECT_NE(message(work).find("is damaged (it ends early at byte 10); fetch it again"),
            std::string::npos)
      << message(work);
  // a whole file with one variable that is not Whisper's encoder
  bytes = std::string("\x06\x00\x00\x00\x04\x00Spe\x00\x01\x00\x00\x00\x01\x00\x00\x00", 18);
  bytes += std::string("\x02\x00x\x00\x00\x00\x04\x00\x00\x00\x00\x00\x80\x3f", 14);  // x = 1.0f
  bytes += std::string("\x00\x00\x00\x00", 4);  // no aliases
  write_file_atomic(work / "model.bin", bytes);
  EXPECT_NE(message(work).find("has no variable encoder/conv1/weight; it is not a Whisper model"),
            std::string::npos)
      << message(work);
  // the real file cut short
  const std::string real = read_file(whisper_dir() / "model.bin");
  write_file_atomic(work / "model.bin", real.substr(0, real.size() / 2));
  EXPECT_NE(message(work).find("is damaged (it ends early"), std::string::npos) << message(work);
  fs::remove_all(work);
}

}  // namespace
}  // namespace tenor::features
