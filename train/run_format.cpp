#include "train/run_format.h"

#include <yaml-cpp/yaml.h>

#include <functional>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/version.h"
#include "data/features/lld_config.h"
#include "train/config.h"
#include "train/input_transform.h"
#include "train/run_dir.h"

namespace tenor::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json parse_run_json(const fs::path& dir, const char* name) {
  json j = json::parse(read_file(dir / name), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    throw DataError("run " + dir.string() + " has a damaged " + name +
                    " (not a JSON object); restore it, or train the run again");
  return j;
}

/// config.yaml, format 0 -> 1: runs from before `model.ngrams` existed were trained without
/// the n-gram path, so a config without the key gets `ngrams: false`.
void upgrade_config_0_to_1(std::string& yaml) {
  try {
    const YAML::Node root = YAML::Load(yaml);
    if (!root.IsMap() || (root["model"] && root["model"]["ngrams"])) return;
    YAML::Node upgraded = YAML::Load(yaml);
    upgraded["model"]["ngrams"] = false;
    yaml = YAML::Dump(upgraded) + "\n";
  } catch (const YAML::Exception&) {
    // Not valid YAML: left as is for the config reader, which names the file and the line.
  }
}

/// Format 0 -> 1 (runs written before run.json). Each key added to the run files since
/// tenor's first runs gets the value such a run was trained with, or "not recorded":
/// - config.yaml `model.ngrams`: false (upgrade_config_0_to_1);
/// - shape.json `text_embedding_dim` 0 and `text_encoder` "": no sentence embeddings;
/// - shape.json `tasks[].classes` []: class names not recorded; a store is then matched to
///   the model by class count, with a warning (check_store_for_model);
/// - result.json `tokenizer_sha256`, `feature_set_version`, `functionals_version` "": not
///   checked against the store.
void upgrade_0_to_1(RunDocs& d) {
  upgrade_config_0_to_1(d.config_yaml);
  if (!d.shape.contains("text_embedding_dim")) d.shape["text_embedding_dim"] = 0;
  if (!d.shape.contains("text_encoder")) d.shape["text_encoder"] = "";
  if (d.shape.contains("tasks") && d.shape["tasks"].is_array())
    for (auto& t : d.shape["tasks"])
      if (t.is_object() && !t.contains("classes")) t["classes"] = json::array();
  for (const char* key : {"tokenizer_sha256", "feature_set_version", "functionals_version"})
    if (!d.result.contains(key)) d.result[key] = "";
}

/// The level-dependent LLD columns of a run from before input_transform.json: make_batch
/// found them by name in the store then; they are the columns the feature set's LLD table
/// marks (data/features/lld_config.h; `data build` has only ever written its default
/// layout). Runs whose model reads another width get none, which only matters, and is
/// refused, under normalize_loudness.
std::vector<int> level_columns_before_marks(const fs::path& dir, const TrainConfig& config,
                                            const json& shape) {
  const auto table = features::lld_columns(features::LldConfig{});
  const int width = shape.value("lld_features", 0);
  std::vector<int> out;
  if (width == int(table.size())) {
    for (size_t c = 0; c < table.size(); ++c)
      if (table[c].level_dependent) out.push_back(int(c));
  } else if (config.normalize_loudness) {
    throw DataError("run " + dir.string() + " normalises loudness over " +
                    std::to_string(width) + " LLD columns, not the " +
                    std::to_string(table.size()) + " of feature set " +
                    features::kFeatureSetVersion +
                    ", so its level columns cannot be recovered; train the run again");
  }
  return out;
}

/// Format 1 -> 2: normalizer.json becomes input_transform.json. Its statistics are the
/// normaliser's; the rest is what make_batch read from config.yaml and shape.json then,
/// assembled as the trainer now does (make_input_transform), so the run's batches and
/// graphs are the ones it was trained and exported with.
void upgrade_1_to_2(RunDocs& d, const fs::path& dir) {
  TrainConfig config;
  apply_yaml_text(config, d.config_yaml, (dir / "config.yaml").string());
  Normalizer statistics = Normalizer::from_json(d.normalizer, (dir / "normalizer.json").string());
  const StoreInputs store{d.shape.value("vocab_size", 0) > 0};
  d.input_transform = make_input_transform(config, std::move(statistics),
                                           level_columns_before_marks(dir, config, d.shape), store)
                          .to_json();
}

/// Format 2 -> 3: runs from before model.text_encoder read no pretrained encoder:
/// input_transform.json `wordpiece_sha256` "" and shape.json `transformer` null.
void upgrade_2_to_3(RunDocs& d) {
  if (d.input_transform.is_object() && !d.input_transform.contains("wordpiece_sha256"))
    d.input_transform["wordpiece_sha256"] = "";
  if (d.shape.is_object() && !d.shape.contains("transformer")) d.shape["transformer"] = nullptr;
}

/// Format 3 -> 4: runs from before speaker_normalization normalised no speaker:
/// input_transform.json `speaker_normalization` "none".
void upgrade_3_to_4(RunDocs& d) {
  if (d.input_transform.is_object() && !d.input_transform.contains("speaker_normalization"))
    d.input_transform["speaker_normalization"] = "none";
}

/// Format 4 -> 5: runs from before drop_features read every frame LLD column:
/// input_transform.json `lld_dropped` all 0 (functionals they hid are in `func_dropped`).
void upgrade_4_to_5(RunDocs& d) {
  if (!d.input_transform.is_object() || d.input_transform.contains("lld_dropped")) return;
  const auto mean = d.input_transform.find("lld_mean");
  if (mean != d.input_transform.end() && mean->is_array())
    d.input_transform["lld_dropped"] = std::vector<uint8_t>(mean->size(), 0);
}

/// Format 5 -> 6: sentence embeddings (model.text_embedding) are gone; runs that read them
/// were refused (refuse_sentence_embeddings of train/input_transform.h), the others lose the
/// keys that said they did not.
void upgrade_5_to_6(RunDocs& d) {
  for (json* doc : {&d.shape, &d.input_transform})
    if (doc->is_object()) doc->erase("text_embedding_dim"), doc->erase("text_encoder");
}

using Upgrade = std::function<void(RunDocs&, const fs::path&)>;

/// Upgrades[v] takes a run of format v to format v + 1.
const std::vector<Upgrade>& upgrades() {
  static const std::vector<Upgrade> steps = {
      [](RunDocs& d, const fs::path&) { upgrade_0_to_1(d); }, upgrade_1_to_2,
      [](RunDocs& d, const fs::path&) { upgrade_2_to_3(d); },
      [](RunDocs& d, const fs::path&) { upgrade_3_to_4(d); },
      [](RunDocs& d, const fs::path&) { upgrade_4_to_5(d); },
      [](RunDocs& d, const fs::path&) { upgrade_5_to_6(d); }};
  static_assert(kRunFormatVersion == 6, "add the upgrade step of the previous format");
  return steps;
}

/// The keys the current format guarantees (and the readers take without a default).
void require_current_keys(const fs::path& dir, const RunDocs& d) {
  auto require = [&](const json& doc, const char* key, const char* file) {
    if (!doc.is_object() || !doc.contains(key))
      throw DataError("run " + dir.string() + " (format " + std::to_string(d.format_version) +
                      ") has no `" + key + "` in " + file +
                      ": the file was edited or damaged; restore it, or train the run again");
  };
  require(d.shape, "tasks", "shape.json");
  require(d.shape, "transformer", "shape.json");
  require(d.input_transform, "wordpiece_sha256", "input_transform.json");
  require(d.input_transform, "speaker_normalization", "input_transform.json");
  require(d.input_transform, "lld_dropped", "input_transform.json");
  for (const auto& t : d.shape["tasks"]) require(t, "classes", "shape.json tasks[]");
  for (const char* key : {"tokenizer_sha256", "feature_set_version", "functionals_version"})
    require(d.result, key, "result.json");
}

std::string writer_of(const json& marker) {
  const auto it = marker.find("tool_version");
  return it != marker.end() && it->is_string() ? it->get<std::string>()
                                               : std::string("its ") + kRunMarker + " names it";
}

}  // namespace

int run_format_version(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / kRunMarker, ec)) return 0;
  const json marker = parse_run_json(dir, kRunMarker);
  const auto it = marker.find("format_version");
  if (it == marker.end() || !it->is_number_integer() || it->get<int64_t>() < 1)
    throw DataError("run " + dir.string() + " has a damaged " + kRunMarker +
                    " (no integer `format_version` >= 1); restore it, or train the run again");
  const int64_t version = it->get<int64_t>();
  if (version > kRunFormatVersion)
    throw DataError("run " + dir.string() + " has format " + std::to_string(version) +
                    ", newer than this tenor " + kVersion + " reads (up to format " +
                    std::to_string(kRunFormatVersion) +
                    "); upgrade tenor to the version that wrote it (" + writer_of(marker) + ")");
  return int(version);
}

RunDocs read_run_docs(const fs::path& dir) {
  RunDocs d;
  d.format_version = run_format_version(dir);
  const char* statistics = d.format_version < 2 ? "normalizer.json" : "input_transform.json";
  for (const char* f : {"config.yaml", statistics, "shape.json", "result.json"}) {
    std::error_code ec;
    if (!fs::exists(dir / f, ec))
      throw DataError("run " + dir.string() + " has no " + f +
                      "; is it a finished `tenor train` run directory?");
  }
  d.config_yaml = read_file(dir / "config.yaml");
  (d.format_version < 2 ? d.normalizer : d.input_transform) = parse_run_json(dir, statistics);
  d.shape = parse_run_json(dir, "shape.json");
  d.result = parse_run_json(dir, "result.json");
  if (d.format_version < 6)  // the model read what no tenor computes any more
    refuse_sentence_embeddings(d.shape, "run " + dir.string() + " reads",
                               "train it again (`tenor train --config "
                               "configs/text-transformer.yaml`), or use the tenor that trained "
                               "it");
  for (int v = d.format_version; v < kRunFormatVersion; ++v) upgrades()[size_t(v)](d, dir);
  require_current_keys(dir, d);
  return d;
}

}  // namespace tenor::train
