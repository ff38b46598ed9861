// Praat TextGrids -> calls: one TextGrid per call, its recording beside it under the same name
// (how Praat pairs a Sound with its TextGrid), one interval tier per speaker role for the
// words and one per task (or task@annotator) for the labels.
#include "core/text.h"
#include "data/import_internal.h"
#include "data/textgrid.h"

namespace tenor::data::import {
namespace fs = std::filesystem;

namespace {

/// The recording Praat would pair with `file`: same name, .wav or .flac, in the same directory.
fs::path recording_beside(const fs::path& file) {
  std::error_code ec;
  for (const char* ext : {".wav", ".flac", ".WAV", ".FLAC", ".Wav"}) {
    fs::path p = file;
    p.replace_extension(ext);
    if (fs::is_regular_file(p, ec)) return p;
  }
  return {};
}

SourceCall source_call(const TextGrid& grid, const fs::path& file, const fs::path& base,
                       const std::string& display, Diagnostics& diag) {
  SourceCall call;
  call.display = display;
  std::tie(call.call_id, call.split) = call_id_and_split(file.lexically_relative(base));
  call.media = recording_beside(file);
  for (const auto& tier : grid.tiers) {
    if (!tier.interval_tier) {
      diag.warning(display, tier.line, "tier-points",
                   "tier '" + printable(tier.name) + "' is a point tier and was skipped; tenor "
                   "reads interval tiers (convert it in Praat, or delete it)");
      continue;
    }
    SourceTier st{tier.name, tier.line, {}};
    for (const auto& iv : tier.intervals)
      st.intervals.push_back({iv.xmin, iv.xmax, iv.text, iv.line});
    call.tiers.push_back(std::move(st));
  }
  return call;
}

}  // namespace

ImportedCalls read_textgrids(const ImportOptions& options, const Schema& schema,
                             Diagnostics& diag) {
  static const std::vector<std::string> kExtensions = {".textgrid"};
  ImportedCalls out;
  std::error_code ec;
  const bool single = fs::is_regular_file(options.source, ec);
  const fs::path base = single ? options.source.parent_path() : options.source;
  std::vector<std::string> without_media;
  for (const auto& file : tool_files(options.source, kExtensions, "TextGrid files")) {
    ++out.files;
    const std::string display = display_path(options.source, file);
    const auto grid = read_textgrid(file, display, diag);
    if (!grid) continue;
    const SourceCall source = source_call(*grid, file, base, display, diag);
    auto call = call_from_tiers(source, schema, options, diag);
    if (!call) continue;
    call->extra = {{"source", display}};
    if (!source.media.empty()) out.media[call->call_id] = source.media;
    if (source.media.empty()) without_media.push_back(display);
    out.dataset.calls.push_back(std::move(*call));
  }
  // One warning for all of them: a text-only set would otherwise print one line per call.
  if (!without_media.empty())
    diag.warning(without_media.front(), 0, "media-absent",
                 std::to_string(without_media.size()) + " TextGrid(s), this one first, have no "
                 "recording beside them (the same name with .wav or .flac) and are imported as "
                 "text only; put each recording next to its TextGrid to keep the audio");
  return out;
}

}  // namespace tenor::data::import
