#include "data/features/columns.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/features/build.h"
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

}  // namespace

LevelMarks level_marks(const Store& store, const std::string& store_name) {
  const nlohmann::json config =
      nlohmann::json::parse(store.meta.extractor_config, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object())
    throw DataError(store_name +
                    " has no readable extractor configuration (its `extractor_config` "
                    "attribute is not a JSON object); rebuild it with `tenor data build`");
  // The columns exactly as `data build` lays them out (data/features/build.cpp).
  const std::vector<LldColumn> lld = lld_columns(build_options_from_config(config).lld);
  std::vector<FunctionalColumn> func = functional_columns(lld);
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
