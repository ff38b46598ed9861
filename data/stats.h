#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "data/dataset.h"

namespace tenor::data {

struct StatsOptions {
  int bootstrap_resamples = 1000;  ///< for the alpha interval
  uint64_t seed = 1;
  bool probe_audio = true;  ///< read audio headers for audio hours per split
};

/// Per task and split: label counts and shares; audio hours per split and speech
/// hours per split and role; speakers and calls per split; segment duration
/// percentiles; Krippendorff's alpha per task with a bootstrap 95 % interval.
/// Layout documented in docs/dataset-format.md ("tenor data stats").
nlohmann::json dataset_stats(const Dataset& dataset, const StatsOptions& options = {});

/// The same as aligned text tables.
std::string stats_to_text(const nlohmann::json& stats);

}  // namespace tenor::data
