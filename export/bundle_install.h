#pragma once
// Where `tenor export` may put its bundle and how: `--force` replaces only a tenor bundle, never
// the export's own inputs (the run, the parity store) or a directory holding them, and the old
// bundle is removed only once the new one is complete and in place (docs/export.md).

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tenor::onnx_export {

/// True when a parsed manifest.json is a tenor bundle's: format tenor-bundle-1 with its files.
bool is_bundle_manifest(const nlohmann::json& manifest);

/// Why `dir` is not a bundle `--force` may replace, or "" when it is one: a directory whose
/// manifest.json has format tenor-bundle-1 and which holds no file that manifest does not list
/// (a user's file put inside is never deleted).
std::string not_a_replaceable_bundle(const std::filesystem::path& dir);

/// An input of the export, which its `--out` must keep clear of.
struct BundleInput {
  std::filesystem::path path;
  std::string role;  ///< "the run being exported", "the parity feature store"
};

/// Refuses, before any work, an `--out` the export must not write: one that is, lies inside or
/// contains one of `inputs` (the run directory, the parity feature store); one that exists
/// without `force`; with `force`, one that is not a replaceable bundle. `<out>.rejected`, where a
/// bundle that fails the gate goes, is held to the same rules. Throws UsageError naming the path,
/// the reason and the fix.
void check_bundle_target(const std::filesystem::path& out,
                         const std::vector<BundleInput>& inputs, bool force);

/// Moves the complete bundle directory `tmp` (beside `target`) to `target`. With `replace`, an
/// existing bundle there is swapped out in one atomic step (renameat2 RENAME_EXCHANGE; two
/// renames where the file system cannot) and only then removed, so `target` always holds a
/// whole bundle. Throws IoError when `target` appeared meanwhile (without `replace`) or is not a bundle.
void install_bundle(const std::filesystem::path& tmp, const std::filesystem::path& target,
                    bool replace);

/// Files under `dir`, relative and '/'-separated, sorted: what manifest.json lists.
std::vector<std::string> bundle_files(const std::filesystem::path& dir);

}  // namespace tenor::onnx_export
