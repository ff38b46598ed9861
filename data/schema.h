#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "data/diagnostics.h"

namespace tenor::data {

enum class TaskType { kBinary, kOrdinal, kCategorical };

const char* to_string(TaskType type);

/// One labelling task declared in dataset.yaml (`labels:`).
struct Task {
  std::string name;
  TaskType type = TaskType::kBinary;
  std::vector<std::string> classes;
  std::string speaker;  ///< the role whose segments carry this label

  /// Index of a class name, or -1.
  int class_index(const std::string& name) const;
  int num_classes() const { return static_cast<int>(classes.size()); }
};

/// dataset.yaml: name, version, optional sample rate and the label schema.
struct Schema {
  std::string name;
  std::string version;
  std::optional<int> sample_rate_hz;
  std::vector<Task> tasks;
  bool complete = true;  ///< false when dataset.yaml had errors (some tasks may be missing)

  const Task* find(const std::string& task) const;
  std::vector<std::string> task_names() const;
};

/// Reads `path` (dataset.yaml). Problems go to `diag`; the returned schema holds
/// whatever could be read (tasks with errors are left out).
Schema load_schema(const std::filesystem::path& path, const std::string& display_name,
                   Diagnostics& diag);

/// The schema as dataset.yaml text.
std::string schema_to_yaml(const Schema& schema);

}  // namespace tenor::data
