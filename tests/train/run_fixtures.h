#pragma once

#include <filesystem>
#include <string>

namespace tenor::test {

/// A 16-call dataset (12 train, 2 dev, 2 test; stereo tones whose level follows the
/// escalation label; transcripts that follow the labels) and its feature store.
const std::filesystem::path& tiny_store();

/// The dataset directory tiny_store() was built from.
const std::filesystem::path& tiny_dataset();

/// Writes DIR/config.yaml for a small, fast run into DIR/run on tiny_store(); `extra`
/// is appended inside the `model:` block (e.g. "  type: linear\n").
std::filesystem::path write_train_config(const std::filesystem::path& dir,
                                         const std::string& extra);

}  // namespace tenor::test
