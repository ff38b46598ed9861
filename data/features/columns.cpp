#include "data/features/columns.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/features/functionals.h"
#include "data/features/lld_config.h"

namespace tenor::features {

namespace {

std::vector<std::string> names_of(const std::vector<FunctionalColumn>& columns) {
  std::vector<std::string> out;
  for (const auto& c : columns) out.push_back(c.name);
  return out;
}

[[noreturn]] void not_its_columns(const std::string& store_name, const char* what) {
  throw DataError(store_name + ": its " + what +
                  " columns are not those its extractor configuration defines (a store written "
                  "by another tool, or edited); rebuild it with `tenor data build`");
}

/// The LLD configuration's fields that shape the column layout (the others change values,
/// not columns), from a store's extractor configuration.
LldConfig layout_config(const Store& store, const std::string& store_name) {
  const auto config =
      nlohmann::json::parse(store.meta.extractor_config, nullptr, /*allow_exceptions=*/false);
  const auto lld = config.is_object() ? config.find("lld") : config.end();
  LldConfig out;
  if (config.is_object() && lld != config.end() && lld->is_object() &&
      lld->contains("mel_bands") && lld->at("mel_bands").is_number_integer() &&
      lld->contains("mfcc_count") && lld->at("mfcc_count").is_number_integer()) {
    out.mel_bands = lld->at("mel_bands").get<int>();
    out.mfcc_count = lld->at("mfcc_count").get<int>();
    // LldConfig::validate's ranges: a value outside them was never built.
    if (out.mel_bands >= 2 && out.mel_bands <= 128 && out.mfcc_count >= 0 &&
        out.mfcc_count < out.mel_bands)
      return out;
  }
  throw DataError(store_name +
                  " has no readable extractor configuration (its `extractor_config` attribute "
                  "lacks a valid lld.mel_bands and lld.mfcc_count); rebuild it with "
                  "`tenor data build`");
}

}  // namespace

int64_t speech_width(const Store& store) {
  const auto config =
      nlohmann::json::parse(store.meta.extractor_config, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object() || !config.contains("speech_encoder")) return 0;
  const auto& speech = config["speech_encoder"];
  return speech.is_object() && speech.contains("width") && speech["width"].is_number_integer()
             ? speech["width"].get<int64_t>()
             : 0;
}


LevelMarks level_marks(const Store& store, const std::string& store_name) {
  // The columns exactly as `data build` lays them out (data/features/build.cpp).
  const std::vector<LldColumn> lld = lld_columns(layout_config(store, store_name));
  std::vector<FunctionalColumn> func = functional_columns(lld);
  for (auto& c : speech_columns(speech_width(store))) func.push_back(std::move(c));
  for (auto& c : relative_columns()) func.push_back(std::move(c));

  LevelMarks marks;
  std::vector<std::string> lld_names;
  for (const auto& c : lld) {
    lld_names.push_back(c.name);
    marks.lld.push_back(c.level_dependent ? 1 : 0);
  }
  if (lld_names != store.layout.lld_columns) not_its_columns(store_name, "LLD");
  if (names_of(func) != store.layout.functional_columns)
    not_its_columns(store_name, "functional");
  for (const auto& c : func) marks.functionals.push_back(c.level_dependent ? 1 : 0);
  return marks;
}

}  // namespace tenor::features
