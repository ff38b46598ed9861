// Agreement with Praat on real speech (RAVDESS, one angry utterance per actor): Praat's
// `To Pitch (ac)` (0.01 s, 75-600 Hz, its default costs) and `To Intensity` (75 Hz, 0.01 s,
// subtract mean) are the reference. Skipped when ../shared/data or Praat is absent.
// Praat's zero-energy value (-300 dB, digital silence) is not a level and is left out of the
// intensity correlation (counted and printed instead).
//
// Frames are aligned exactly: tenor's grid starts at the first sample it is given, so the
// waveform is cut by ((t1 - hop / 2) mod hop) seconds to put tenor's frame centres on Praat's
// times t1 + i * 0.01 s. Praat analyses the files at their 48 kHz; tenor at 16 kHz (its default,
// soxr-resampled: energy above 8 kHz is gone) and at 48 kHz.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "data/audio.h"
#include "data/features/lld.h"
#include "data/features/lld_table.h"

namespace tenor::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPraatScript = R"(form Pitch and intensity
  sentence Infile
  sentence Outfile
endform
sound = Read from file: infile$
pitch = To Pitch (ac): 0.01, 75, 15, "no", 0.03, 0.45, 0.01, 0.35, 0.14, 600
selectObject: sound
intensity = To Intensity: 75, 0.01, "yes"
selectObject: pitch
n = Get number of frames
out$ = "time,f0,intensity" + newline$
for i to n
  selectObject: pitch
  t = Get time from frame number: i
  f0 = Get value in frame: i, "Hertz"
  if f0 = undefined
    f0 = 0
  endif
  selectObject: intensity
  db = Get value at time: t, "cubic"
  if db = undefined
    db = -1000
  endif
  out$ = out$ + fixed$ (t, 6) + "," + fixed$ (f0, 4) + "," + fixed$ (db, 4) + newline$
endfor
writeFile: outfile$, out$
)";

/// Praat reports 10 log10(0) as -300 dB; anything at or below this is its zero-energy value.
constexpr double kPraatZeroDb = -250;

struct PraatFrame {
  double time_s, f0_hz, intensity_db;  // f0 0: unvoiced; intensity -1000: undefined
};

std::vector<PraatFrame> run_praat(const fs::path& script, const fs::path& wav,
                                  const fs::path& out) {
  std::string cmd =
      "praat --run '" + script.string() + "' '" + wav.string() + "' '" + out.string() + "'";
  int status = std::system(cmd.c_str());
  if (status != 0) return {};
  std::ifstream in(out);
  std::string line;
  std::getline(in, line);
  std::vector<PraatFrame> frames;
  while (std::getline(in, line)) {
    PraatFrame f{};
    if (std::sscanf(line.c_str(), "%lf,%lf,%lf", &f.time_s, &f.f0_hz, &f.intensity_db) == 3)
      frames.push_back(f);
  }
  return frames;
}

std::vector<fs::path> sample_files(const fs::path& audio_dir) {
  std::vector<fs::path> files;
  for (int actor = 1; actor <= 24; ++actor) {
    char name[32];
    std::snprintf(name, sizeof name, "Actor_%02d", actor);
    fs::path dir = audio_dir / name;
    if (!fs::is_directory(dir)) continue;
    std::vector<fs::path> wavs;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".wav") wavs.push_back(e.path());
    std::sort(wavs.begin(), wavs.end());
    // First angry utterance (RAVDESS emotion code 05), else the first file.
    auto angry = std::find_if(wavs.begin(), wavs.end(), [](const fs::path& p) {
      return p.filename().string().substr(6, 3) == "05-";
    });
    if (angry != wavs.end())
      files.push_back(*angry);
    else if (!wavs.empty())
      files.push_back(wavs.front());
  }
  return files;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = double(a.size());
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
  ma /= n, mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

/// Analysis rate of tenor: 16 kHz (its default, soxr-resampled) or 48 kHz (the files' rate, as
/// Praat).
class PraatAgreement : public testing::TestWithParam<int> {};

TEST_P(PraatAgreement, RavdessPitchVoicingIntensity) {
  fs::path audio_dir = fs::path(TENOR_SHARED_DATA) / "ravdess-anger" / "audio";
  if (!fs::is_directory(audio_dir)) GTEST_SKIP() << audio_dir << " is absent";
  if (std::system("command -v praat >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "praat is not installed";
  auto files = sample_files(audio_dir);
  ASSERT_GE(files.size(), 20u) << "expected one file per actor";

  fs::path tmp = fs::temp_directory_path() / ("tenor_praat_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  fs::path script = tmp / "pitch_intensity.praat";
  std::ofstream(script) << kPraatScript;

  features::LldConfig config;  // defaults = Praat's settings above
  config.sample_rate_hz = GetParam();
  features::LldExtractor extract(config);
  const double hop_s = config.frame_shift_ms / 1000.0;
  const auto columns = features::lld_column_names(config);
  const auto col = [&](const std::string& n) {
    return int64_t(std::find(columns.begin(), columns.end(), n) - columns.begin());
  };
  const int64_t c_f0 = col("f0_hz"), c_v = col("voiced"), c_db = col("intensity_db");

  int64_t compared = 0, agree = 0, both = 0, gross = 0, digital_silence = 0, silence_at_floor = 0;
  std::vector<double> int_tenor, int_praat;
  std::string worst_file;
  double worst_agreement = 2;
  for (const auto& wav : files) {
    auto praat = run_praat(script, wav, tmp / (wav.stem().string() + ".csv"));
    ASSERT_FALSE(praat.empty()) << "Praat failed on " << wav;
    auto samples = data::AudioReader(wav).read(0, 1e9, -1, config.sample_rate_hz);
    // Cut the start so tenor's frame centres (cut + (k + 0.5) hop) land on Praat's t1 + i hop.
    const double t1 = praat.front().time_s;
    double cut_s = std::fmod(t1 - 0.5 * hop_s, hop_s);
    if (cut_s < 0) cut_s += hop_s;
    const int64_t cut = std::llround(cut_s * config.sample_rate_hz);
    const int64_t n = int64_t(samples.size()) - cut;
    auto wave = at::from_blob(samples.data() + cut, {1, n}, at::TensorOptions().dtype(at::kFloat));
    auto out = extract(wave, at::full({1}, n, at::TensorOptions().dtype(at::kLong)));
    auto lld = out.lld[0].contiguous();
    auto acc = lld.accessor<float, 2>();
    int64_t file_compared = 0, file_agree = 0;
    for (const auto& p : praat) {
      const double k_real = (p.time_s - double(cut) / config.sample_rate_hz) / hop_s - 0.5;
      const int64_t k = std::llround(k_real);
      ASSERT_LT(std::abs(k_real - double(k)), 0.01) << "frame grids not aligned in " << wav;
      if (k < 0 || k >= lld.size(0)) continue;
      const bool v_t = acc[k][c_v] > 0.5f, v_p = p.f0_hz > 0;
      ++compared, ++file_compared;
      if (v_t == v_p) ++agree, ++file_agree;
      if (v_t && v_p) {
        ++both;
        if (std::abs(acc[k][c_f0] - p.f0_hz) > 0.2 * p.f0_hz) ++gross;
      }
      if (p.intensity_db <= kPraatZeroDb) {
        // Praat's -300 dB stands for zero energy (digital silence); tenor's floor is -100 dB.
        ++digital_silence;
        if (acc[k][c_db] <= -90.0f) ++silence_at_floor;
      } else if (p.intensity_db > -999) {
        int_tenor.push_back(acc[k][c_db]);
        int_praat.push_back(p.intensity_db);
      }
    }
    const double a = double(file_agree) / std::max<int64_t>(file_compared, 1);
    if (a < worst_agreement) worst_agreement = a, worst_file = wav.filename().string();
  }
  fs::remove_all(tmp);
  const double gpe = double(gross) / std::max<int64_t>(both, 1);
  const double agreement = double(agree) / std::max<int64_t>(compared, 1);
  const double corr = pearson(int_tenor, int_praat);
  std::cout << "tenor at " << config.sample_rate_hz << " Hz vs Praat on " << files.size()
            << " RAVDESS files, " << compared << " frames: GPE " << 100 * gpe << "% (" << gross
            << "/" << both << " both voiced), voicing agreement " << 100 * agreement
            << "%, intensity r = " << corr << " (" << int_tenor.size()
            << " frames); worst voicing agreement " << 100 * worst_agreement << "% in "
            << worst_file << "; " << digital_silence << " digitally silent frames (Praat -300 dB), "
            << silence_at_floor << " at tenor's -100 dB floor\n";
  RecordProperty("gpe", std::to_string(gpe));
  RecordProperty("voicing_agreement", std::to_string(agreement));
  RecordProperty("intensity_correlation", std::to_string(corr));
  EXPECT_LE(gpe, 0.03) << "GPE on frames both call voiced (target <= 3%)";
  EXPECT_GE(agreement, 0.90) << "voicing agreement (target >= 90%)";
  EXPECT_GE(corr, 0.99) << "intensity correlation (target >= 0.99)";
}

INSTANTIATE_TEST_SUITE_P(Rates, PraatAgreement, testing::Values(16000, 48000),
                         [](const auto& info) {
                           return "at_" + std::to_string(info.param) + "_hz";
                         });

}  // namespace
}  // namespace tenor::test
