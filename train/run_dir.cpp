#include "train/run_dir.h"

#include <algorithm>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/sha256.h"
#include "core/text.h"
#include "core/version.h"
#include "train/run_format.h"

namespace tenor::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// A path's names, without "." and the empty name a trailing separator leaves.
std::vector<std::string> path_names(const fs::path& p) {
  std::vector<std::string> out;
  for (const auto& name : p.lexically_normal())
    if (!name.empty() && name != ".") out.push_back(name.string());
  return out;
}

/// The names in `dir` other than the lock file and run.json's temporary file (sorted): a
/// directory holding only those is being claimed by another tenor (or was, by one killed
/// before its marker was in place), which the lock, taken next, tells apart.
std::vector<std::string> entries_of(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name != kRunLock && !is_temp_name_of(name, kRunMarker)) names.push_back(name);
  }
  if (ec)
    throw IoError("cannot list the run directory " + dir.string() + ": " + ec.message() +
                  "; check its permissions or choose another `out`");
  std::sort(names.begin(), names.end());
  return names;
}

bool has(const fs::path& dir, const char* name) {
  std::error_code ec;
  return fs::exists(dir / name, ec);
}

std::string some_of(const std::vector<std::string>& names) {
  const size_t shown = std::min<size_t>(names.size(), 5);
  std::string out =
      join(std::vector<std::string>(names.begin(), names.begin() + long(shown)), ", ");
  if (names.size() > shown) out += " and " + std::to_string(names.size() - shown) + " more";
  return out;
}

[[noreturn]] void another_config(const fs::path& out, const std::string& evidence) {
  throw ConfigError("run directory " + out.string() +
                    " holds a run of a different configuration (" + evidence +
                    "); choose another `out` or delete it");
}

std::string world_suffix(int world_size) {
  return world_size > 0 ? "# world_size: " + std::to_string(world_size) + "\n" : "";
}

/// The keys differing between `config` and the run's saved one, for a refusal.
std::string differences(const TrainConfig& config, const TrainConfig& saved) {
  const auto keys = differing_keys(config, saved, "here", "in the run");
  if (keys.empty()) return "";
  const size_t shown = std::min<size_t>(keys.size(), 8);
  std::string out = "its config.yaml differs in " +
                    join(std::vector<std::string>(keys.begin(), keys.begin() + long(shown)), ", ");
  if (keys.size() > shown) out += " and " + std::to_string(keys.size() - shown) + " more keys";
  return out;
}

}  // namespace

std::string run_config_sha256(const TrainConfig& config, int world_size) {
  return sha256_hex(config_identity(config) + world_suffix(world_size));
}

std::string older_run_differences(const fs::path& out, const std::string& saved_sha256,
                                  const TrainConfig& config, int world_size) {
  std::error_code ec;
  if (!fs::exists(out / "config.yaml", ec))
    return "it names configuration " + saved_sha256.substr(0, 12) + " and has no config.yaml";
  SavedConfig saved;
  try {
    saved = read_saved_config((out / "config.yaml").string());
  } catch (const ConfigError& e) {
    return "its config.yaml is not one this tenor reads: " + std::string(e.what());
  }
  const std::string diff = differences(config, saved.config);
  if (!diff.empty()) return diff;
  const bool hashed_then =
      std::any_of(saved.identities_then.begin(), saved.identities_then.end(),
                  [&](const std::string& identity) {
                    return sha256_hex(identity + world_suffix(world_size)) == saved_sha256;
                  });
  if (!hashed_then)
    return "it names configuration " + saved_sha256.substr(0, 12) +
           ", which its config.yaml does not give" +
           (world_size > 0 ? " under world size " + std::to_string(world_size) : std::string()) +
           ": another number of processes, or an edited config.yaml";
  return "";
}

std::optional<fs::path> run_base_dir(const fs::path& dir, const TrainConfig& config) {
  const fs::path features(config.features), out(config.out);
  if (features.empty() || features.is_absolute() || out.empty() || out.is_absolute())
    return std::nullopt;
  std::error_code ec;
  const std::vector<std::string> run = path_names(fs::absolute(dir, ec));
  const std::vector<std::string> tail = path_names(out);
  if (ec || tail.empty() || tail.size() >= run.size() ||
      std::find(tail.begin(), tail.end(), "..") != tail.end() ||
      !std::equal(tail.rbegin(), tail.rend(), run.rbegin()))
    return std::nullopt;
  fs::path base = "/";
  for (size_t i = 0; i + tail.size() < run.size(); ++i) base /= run[i];
  if (!fs::is_regular_file(base / features, ec)) return std::nullopt;
  return base;
}

std::string run_store_path(const fs::path& dir, const TrainConfig& config) {
  const auto base = run_base_dir(dir, config);
  std::error_code ec;
  if (!base || fs::equivalent(*base / config.features, config.features, ec))
    return config.features;  // as written: the run moved, or this process's directory is BASE
  return (*base / config.features).lexically_normal().string();
}

bool is_run_dir(const fs::path& dir) {
  return has(dir, kRunMarker) ||
         (has(dir, "config.yaml") && has(dir, "shape.json") && has(dir, "normalizer.json"));
}

void check_run_dir(const fs::path& out, const TrainConfig& config, int world_size) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  if (!fs::is_directory(out, ec))
    throw ConfigError("`out` " + out.string() +
                      " is a file, not a run directory; set `out` to a new directory");
  const auto names = entries_of(out);
  if (names.empty()) return;
  if (has(out, kRunMarker)) {
    const json marker = json::parse(read_file(out / kRunMarker), nullptr, false);
    if (!marker.is_object() || !marker.contains("config_sha256") ||
        !marker["config_sha256"].is_string())
      throw ConfigError("run directory " + out.string() + " has a damaged " + kRunMarker +
                        "; choose another `out`, or delete the run to start it over");
    run_format_version(out);  // refuses a run of a newer format, which this tenor would spoil
    const std::string saved = marker["config_sha256"];
    if (saved == run_config_sha256(config, world_size)) return;
    const std::string why = older_run_differences(out, saved, config, world_size);
    if (!why.empty()) another_config(out, why);
    return;
  }
  if (is_run_dir(out)) {  // a run from before the marker
    if (has(out, "last.pt")) return;
    std::string why;
    try {
      why = differences(config, read_saved_config((out / "config.yaml").string()).config);
    } catch (const ConfigError& e) {
      why = "its config.yaml is not one this tenor reads: " + std::string(e.what());
    }
    if (why.empty()) return;
    another_config(out, why);
  }
  throw ConfigError("`out` " + out.string() + " is not empty and is not a tenor run (it holds " +
                    some_of(names) + ", and no " + kRunMarker +
                    "); tenor train writes only into a new or empty directory, or into its own "
                    "run to resume it; set `out` to a new directory");
}

void create_run_dir(const fs::path& out) {
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec)
    throw IoError("cannot create the run directory " + out.string() + ": " + ec.message() +
                  "; set `out` to a directory you can write");
}

void write_run_marker(const fs::path& out, const std::string& config_sha256) {
  const json marker = {{"format_version", kRunFormatVersion},
                       {"config_sha256", config_sha256},
                       {"tool_version", std::string(kVersion) + " (" + kGitCommit + ")"}};
  write_file_atomic(out / kRunMarker, marker.dump(2) + "\n");
}

}  // namespace tenor::train
