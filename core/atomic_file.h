#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace tenor {

/// A file that appears under its final name only when complete: it is written
/// to a temporary file in the same directory and renamed over the target by
/// commit(). If the object is destroyed before commit(), the temporary file is
/// removed and the target is left as it was. Throws IoError.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ofstream& stream() { return out_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  /// Flushes, fsyncs and renames the temporary file over the target.
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  std::ofstream out_;
  bool committed_ = false;
};

/// Writes `content` to `path` atomically (temp file + rename).
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

/// A unique temporary path beside `target` (same directory, so rename is atomic).
std::filesystem::path temp_path_beside(const std::filesystem::path& target);

/// Whether the file name `name` is one temp_path_beside gives for a target named `target_name`
/// (a write in flight, or left by a process killed before its rename).
bool is_temp_name_of(const std::string& name, const std::string& target_name);

/// temp_path_beside for a command's new output (a store, a dataset, a bundle): first removes
/// what writes of `target` that were killed left beside it (remove_dead_temporaries).
std::filesystem::path temp_path_for_output(const std::filesystem::path& target);

/// `path` made absolute, symbolic links and `.`/`..` resolved as far as it exists, without a
/// trailing separator ("data/x/" is ".../data/x", as a shell's completion writes it).
std::filesystem::path resolved_path(const std::filesystem::path& path);

/// Whether `inner` is `outer` or lies below it, both resolved_path'd first, so that "a/../b",
/// symbolic links and trailing separators hide nothing: the one check of "is this output
/// inside that input" (a dataset, a run, an import's source, an export's inputs).
bool path_within(const std::filesystem::path& inner, const std::filesystem::path& outer);

/// The new output directory a command's `--out` names, resolved_path'd. Refused (UsageError
/// naming `out_arg` and the fix) when it exists as anything but an empty directory, or is the
/// current directory (which the rename into place would remove from under the shell). Then
/// temp_path_for_output, fill, publish_directory.
std::filesystem::path new_output_directory(const std::filesystem::path& out_arg);

/// Refuses (UsageError) an output file named `arg` on the command line as `flag` when it is a
/// directory or ends in a separator ("preds.jsonl/"), before any work, with a file name to give
/// instead; `example` is the file name suggested inside an existing directory. Returns `arg`.
std::filesystem::path new_output_file(const std::filesystem::path& arg, const std::string& flag,
                                      const std::string& example);

/// Moves the directory `temp` that temp_path_for_output(out) named, now complete, into place
/// as `out`, which may be missing or an empty directory (it is replaced). The rename is the one
/// step another process can race: when `out` has been written meanwhile by another command,
/// throws UsageError naming `out` and the fix, else IoError on failure. `temp` is left for the
/// caller to remove.
void publish_directory(const std::filesystem::path& temp, const std::filesystem::path& out);

/// Removes what temp_path_beside named beside `target` for processes of this machine that no
/// longer run (a write killed before its rename: a file, or a directory with its contents),
/// and returns how many; a temporary of a live process is kept. Errors are ignored: a
/// leftover that cannot be removed stays as it was.
size_t remove_dead_temporaries(const std::filesystem::path& target);

/// Reads a whole (small) file; throws IoError naming the path.
std::string read_file(const std::filesystem::path& path);

}  // namespace tenor
