#pragma once
// The level marks of a feature store's columns (no LibTorch here): which columns follow the
// recording level, read from the column tables (lld_columns, functional_columns,
// relative_columns) of the extractor configuration that built the store, never from names.

#include <cstdint>
#include <string>
#include <vector>

#include "data/features/store.h"

namespace tenor::features {

/// Per column of a store, 1 where its value follows the recording level, else 0.
struct LevelMarks {
  std::vector<uint8_t> lld;          ///< [lld_columns]
  std::vector<uint8_t> functionals;  ///< [functional_columns]
};

/// The width of `store`'s speech-encoder columns (speech_*, from the speech_encoder of its
/// extractor configuration), 0 for a store built without one.
int64_t speech_width(const Store& store);

/// The marks of `store`'s columns, from the column tables of the configuration in its
/// StoreMeta::extractor_config. Throws DataError naming `store_name` when that configuration
/// is missing or damaged, or when the store's columns are not the ones it defines (a store
/// written by another tool or edited): rebuild it with `tenor data build`.
LevelMarks level_marks(const Store& store, const std::string& store_name);

}  // namespace tenor::features
