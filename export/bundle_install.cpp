#include "export/bundle_install.h"

#include <fcntl.h>
#include <stdio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"

namespace tenor::onnx_export {
namespace fs = std::filesystem;

namespace {

/// Refuses `path` (the bundle or its `.rejected` twin) when it touches `input`.
void check_not_an_input(const fs::path& path, const BundleInput& input) {
  const fs::path in = resolved_path(input.path);
  const std::string what = in.string() + " (" + input.role + ")";
  if (path == in)
    throw UsageError("--out " + path.string() + " is " + input.role +
                     "; tenor export never replaces its own input; write the bundle elsewhere, "
                     "e.g. --out bundles/NAME");
  if (path_within(path, in))
    throw UsageError("--out " + path.string() + " lies inside " + what +
                     "; tenor export never writes into its own input; write the bundle outside "
                     "it, e.g. --out bundles/NAME");
  if (path_within(in, path))
    throw UsageError("--out " + path.string() + " contains " + what +
                     ", which replacing it would delete; choose an --out that does not hold the "
                     "export's input, e.g. --out bundles/NAME");
}

/// Swaps two existing paths atomically; false when the file system cannot (then nothing moved).
bool exchange(const fs::path& a, const fs::path& b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) return true;
  if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) return false;
  throw IoError("could not swap " + a.string() + " into place at " + b.string() + ": " +
                std::strerror(errno));
}

}  // namespace

std::vector<std::string> bundle_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (!e.is_directory()) out.push_back(fs::relative(e.path(), dir).generic_string());
  std::sort(out.begin(), out.end());
  return out;
}

bool is_bundle_manifest(const nlohmann::json& manifest) {
  return manifest.is_object() && manifest.value("format", "") == "tenor-bundle-1" &&
         manifest.contains("files") && manifest["files"].is_object();
}

std::string not_a_replaceable_bundle(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return "it is not a directory";
  if (!fs::is_regular_file(dir / "manifest.json", ec)) return "it has no manifest.json";
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(read_file(dir / "manifest.json"));
  } catch (const std::exception&) {
    return "its manifest.json is not valid JSON";
  }
  if (!is_bundle_manifest(manifest))
    return "its manifest.json is not a tenor bundle's (format tenor-bundle-1 with files)";
  try {
    for (const auto& f : bundle_files(dir))
      if (f != "manifest.json" && !manifest["files"].contains(f))
        return "it holds " + f + ", which its manifest.json does not list";
  } catch (const fs::filesystem_error& e) {
    return std::string("it cannot be listed (") + e.code().message() + ")";
  }
  return "";
}

void check_bundle_target(const fs::path& out, const std::vector<BundleInput>& inputs,
                         bool force) {
  const fs::path target = resolved_path(out);
  const fs::path rejected = target.string() + ".rejected";
  for (const auto& in : inputs) {
    check_not_an_input(target, in);
    check_not_an_input(rejected, in);
  }
  std::error_code ec;
  if (fs::exists(fs::symlink_status(target, ec)) && !force)
    throw UsageError(target.string() +
                     " already exists; choose another --out, or pass --force to replace it if "
                     "it is a bundle of tenor export");
  const fs::path here = fs::current_path(ec);
  for (const auto& path : {target, rejected}) {
    if (!fs::exists(fs::symlink_status(path, ec))) continue;
    if (auto why = not_a_replaceable_bundle(path); !why.empty())
      throw UsageError(path.string() + " is not a tenor bundle --force may replace: " + why +
                       "; choose another --out, or move " + path.string() + " away yourself");
    // The bundle is replaced whole: a shell standing in it would be left in a removed
    // directory that looks empty.
    if (!here.empty() && path_within(here, path))
      throw UsageError("--out " + path.string() + " holds the current directory, which "
                       "replacing the bundle would remove from under this shell; run tenor "
                       "export from outside it, e.g. from " + path.parent_path().string());
  }
}

void install_bundle(const fs::path& tmp, const fs::path& target, bool replace) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(target, ec))) {
    fs::rename(tmp, target, ec);  // fails when target appeared meanwhile: never merged into
    if (!ec) return;
    throw IoError("could not move the bundle into " + target.string() + " (" + ec.message() +
                  "); another export may have written it meanwhile; export again");
  }
  if (!replace)
    throw IoError(target.string() + " appeared during the export (another export into the same "
                  "--out?) and is left as it is; export again, with --force to replace it");
  // Checked again: the target may have changed since check_bundle_target.
  if (auto why = not_a_replaceable_bundle(target); !why.empty())
    throw IoError(target.string() + " changed during the export and is no longer a bundle to "
                  "replace (" + why + "); it is left as it is; move it away and export again");
  if (!exchange(tmp, target)) {  // two renames: target is absent for a moment
    std::random_device rd;
    const fs::path old = target.parent_path() /
                         ("." + target.filename().string() + ".old-" + std::to_string(rd()));
    fs::rename(target, old);
    fs::rename(tmp, target, ec);
    if (ec) {
      std::error_code restore;
      fs::rename(old, target, restore);
      throw IoError("could not move the bundle into " + target.string() + " (" + ec.message() +
                    "); the previous bundle is " + (restore ? "at " + old.string() : "kept"));
    }
    fs::remove_all(old, ec);
    return;
  }
  fs::remove_all(tmp, ec);  // tmp now holds the replaced bundle
}

}  // namespace tenor::onnx_export
