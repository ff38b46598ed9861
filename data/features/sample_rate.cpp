#include "data/features/sample_rate.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "data/audio.h"

namespace tenor::features {

double analysed_top_hz(const LldConfig& lld) {
  return std::min(lld.mel_high_hz, lld.sample_rate_hz / 2.0);
}

void check_sample_rate(const std::filesystem::path& audio, const LldConfig& lld) {
  check_sample_rate(data::probe_audio(audio).sample_rate_hz, audio.string(), lld);
}

void check_sample_rate(int rate, const std::string& name, const LldConfig& lld) {
  const double top_hz = analysed_top_hz(lld);
  if (rate / 2.0 >= top_hz) return;
  const auto hz = [](double v) { return std::to_string(int(std::lround(v))) + " Hz"; };
  throw DataError(name + " is sampled at " + hz(rate) + ", so it holds nothing above " +
                  hz(rate / 2.0) + ", but the model analyses up to " + hz(top_hz) +
                  " (its extractor runs at " + hz(lld.sample_rate_hz) + ", mel bands to " +
                  hz(lld.mel_high_hz) +
                  "): upsampled, its upper bands would be empty, unlike anything the model was "
                  "trained on; score it with a model built at " +
                  hz(rate) + " (`tenor data build DIR --sample-rate " + std::to_string(rate) +
                  "`), or pass --allow-narrowband to score it as it is");
}

}  // namespace tenor::features
