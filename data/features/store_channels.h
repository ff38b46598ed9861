#pragma once
// The channel convention of a feature store's dataset (data::ChannelConvention, data/call_input.h):
// how its calls put speaker roles on channels. `tenor data build` records it as the store's root
// attribute `channel_convention`; `tenor export` copies it into the bundle's features.json and
// `tenor predict --run` reads it, so that a call recorded the same way is mapped without being
// told. Kept apart from store.h, whose StoreMeta every training unit includes.

#include <filesystem>
#include <string>

namespace tenor::features {

/// Writes `json_text` (ChannelConvention::to_json().dump()) as the root attribute
/// `channel_convention` of the store at `path`, which must be closed. Throws IoError.
void write_channel_convention(const std::filesystem::path& path, const std::string& json_text);

/// The store's `channel_convention` attribute, "" for a store built before it was recorded (or
/// whose dataset's calls disagree). DataError when `path` is not a tenor store.
std::string read_channel_convention(const std::filesystem::path& path);

}  // namespace tenor::features
