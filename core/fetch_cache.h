#pragma once
// Where tools/text-encoders/fetch.sh keeps the pretrained weights it fetches, so that a known
// encoder name (model.text_encoder: minilm-l6, --speech-encoder whisper-tiny-en) finds them.

#include <filesystem>

namespace tenor {

/// ${XDG_CACHE_HOME:-$HOME/.cache}/tenor (/root/.cache/tenor without HOME).
std::filesystem::path fetch_cache_dir();

}  // namespace tenor
