#pragma once
// Whether audio holds what a model's extractor analyses: one rule for `tenor predict` and
// `tenor eval --dataset` (torch-free).

#include <filesystem>
#include <string>

#include "data/features/lld_config.h"

namespace tenor::features {

/// The highest frequency `lld` analyses: min(mel_high_hz, the Nyquist frequency of its rate).
/// Audio sampled below twice this has nothing in the upper bands, unlike anything a model with
/// this extractor was trained on.
double analysed_top_hz(const LldConfig& lld);

/// Refuses `audio` (its header only) when its sample rate is below twice analysed_top_hz:
/// DataError naming the file, its rate, what the model analyses and the fixes (a model built at
/// that rate, or `--allow-narrowband`).
void check_sample_rate(const std::filesystem::path& audio, const LldConfig& lld);
/// The same for audio sampled at `rate_hz` that messages call `name` (PCM in memory).
void check_sample_rate(int rate_hz, const std::string& name, const LldConfig& lld);

}  // namespace tenor::features
