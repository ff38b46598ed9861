#include "data/dataset.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/cpu.h"
#include "core/error.h"
#include "core/text.h"
#include "data/dataset_internal.h"
#include "data/json_line.h"
#include "data/line_reader.h"
#include "data/parallel.h"

namespace tenor::data {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::vector<std::string> kCallFields = {"call_id", "audio", "channels",
                                              "split",   "meta",  "segments"};
const std::vector<std::string> kSegmentFields = {"start", "end",    "speaker",
                                                 "text",  "labels", "labels_by"};
const std::vector<std::string> kSplits = {"train", "dev", "test"};

/// "; did you mean 'text'?" for an unknown field `name` ("segments[].txt" or "spilt") when one
/// of the known fields of its level is near it, else "".
std::string field_hint(const std::string& name) {
  const bool segment = name.starts_with("segments[].");
  const std::string near =
      nearest(segment ? name.substr(11) : name, segment ? kSegmentFields : kCallFields);
  return near.empty() ? "" : "; did you mean '" + std::string(segment ? "segments[]." : "") + near + "'?";
}

/// A dataset file that cannot be opened or read, with the fix when permissions are why.
std::string unreadable_message(const IoError& e, const fs::path& root) {
  std::string message = e.what();
  if (message.find(std::strerror(EACCES)) != std::string::npos)
    message += "; " + internal::permission_fix(root);
  return message;
}

/// What to do about a line of calls.jsonl that is not JSON.
std::string json_line_fix(const JsonLineProblem& problem) {
  if (problem.code == "number-out-of-range")
    return "; write the value as an ordinary number (times are seconds, e.g. 12.5)";
  if (problem.code == "not-utf8") return "; each line must be one JSON object, saved as UTF-8";
  if (problem.code == "json-too-deep")
    return "; a call needs about 6 levels: flatten or remove the deep value";
  return "; each line must be one JSON object";
}

std::string type_name(const json& j) {
  if (j.is_string()) return "text \"" + printable(j.get_ref<const std::string&>(), 30) + "\"";
  return std::string(j.type_name()) + " " + printable(j.dump(), 30);
}

/// Remembers the first place each unknown field was seen, to warn once per dataset.
struct UnknownFields {
  std::map<std::string, int64_t> first_line;
  void note(const std::string& name, int64_t line) { first_line.emplace(name, line); }
};

class JsonlReader {
 public:
  JsonlReader(const Schema& schema, std::string file, Diagnostics& diag)
      : schema_(schema), file_(std::move(file)), diag_(diag) {}

  /// A segment's unknown key is an error on its line (with the nearest known key) rather than
  /// kept: a transcript has no use for extra fields, so one is a misspelt field.
  bool unknown_keys_are_errors = false;

  std::optional<Call> parse(const json& j, int64_t line);
  std::optional<Segment> parse_segment(const json& j, const Call& call, int index);
  UnknownFields unknown;

 private:
  void parse_labels(const json& j, Segment& seg, const Call& call, int index, bool by_annotator);

  const Schema& schema_;
  std::string file_;
  Diagnostics& diag_;
};

std::optional<Call> JsonlReader::parse(const json& j, int64_t line) {
  if (!j.is_object()) {
    diag_.error(file_, line, "call-not-object",
                "each line must be one JSON object describing a call, found " + type_name(j));
    return std::nullopt;
  }
  Call call;
  call.line = line;
  auto id = j.find("call_id");
  if (id == j.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) {
    diag_.error(file_, line, "missing-field",
                id == j.end() ? "the call has no `call_id`; add a unique id"
                              : "`call_id` must be a non-empty string, found " + type_name(*id));
    return std::nullopt;
  }
  call.call_id = id->get<std::string>();
  const std::string& cid = call.call_id;

  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(kCallFields.begin(), kCallFields.end(), it.key()) == kCallFields.end()) {
      unknown.note(it.key(), line);
      call.extra[it.key()] = it.value();
    }
  }
  if (auto a = j.find("audio"); a != j.end() && !a->is_null()) {
    if (!a->is_string()) {
      diag_.error(file_, line, "bad-field", "`audio` must be a path string, found " + type_name(*a),
                  cid);
    } else if (!path_stays_inside(a->get<std::string>())) {
      diag_.error(
          file_, line, "audio-path-escapes",
          "audio path \"" + printable(a->get<std::string>()) +
              "\" leaves the dataset directory; audio paths must be relative and stay inside it",
          cid);
    } else {
      call.audio = a->get<std::string>();
    }
  }
  if (auto ch = j.find("channels"); ch != j.end() && !ch->is_null()) {
    if (!ch->is_object()) {
      diag_.error(
          file_, line, "bad-field",
          "`channels` must map roles to channel indices, e.g. {\"agent\": 0, \"customer\": 1}",
          cid);
    } else {
      for (auto it = ch->begin(); it != ch->end(); ++it) {
        if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 255) {
          diag_.error(file_, line, "bad-channel",
                      "channel of role '" + printable(it.key()) + "' is " + type_name(*it) +
                          "; use a channel index 0, 1, ...",
                      cid);
        } else {
          call.channels[it.key()] = it->get<int>();
        }
      }
    }
  }
  if (auto s = j.find("split"); s != j.end() && !s->is_null()) {
    std::string split = s->is_string() ? s->get<std::string>() : "";
    if (std::find(kSplits.begin(), kSplits.end(), split) == kSplits.end()) {
      std::string near = s->is_string() ? nearest(split, kSplits) : "";
      diag_.error(file_, line, "bad-split",
                  "split is " + type_name(*s) + "; use train, dev or test, or leave it out" +
                      (near.empty() ? "" : " (did you mean '" + near + "'?)"),
                  cid);
    } else {
      call.split = split;
    }
  }
  if (auto m = j.find("meta"); m != j.end() && !m->is_null()) {
    if (!m->is_object()) {
      diag_.error(file_, line, "bad-field",
                  "`meta` must be an object of strings, found " + type_name(*m), cid);
    } else {
      for (auto it = m->begin(); it != m->end(); ++it) {
        if (it->is_string()) {
          call.meta[it.key()] = it->get<std::string>();
        } else if (it->is_number() || it->is_boolean()) {
          call.meta[it.key()] = it->dump();
        } else if (!it->is_null()) {
          diag_.warning(file_, line, "meta-not-string",
                        "meta." + printable(it.key()) + " is " + type_name(*it) +
                            "; meta values are strings used to slice results, so it is ignored",
                        cid);
        }
      }
    }
  }
  auto segs = j.find("segments");
  if (segs == j.end() || !segs->is_array()) {
    diag_.error(file_, line, "missing-field",
                segs == j.end() ? "the call has no `segments` list; add one (it may be empty)"
                                : "`segments` must be a list, found " + type_name(*segs),
                cid);
    return call;
  }
  int index = 0;
  for (const auto& s : *segs) {
    if (auto seg = parse_segment(s, call, index)) call.segments.push_back(std::move(*seg));
    ++index;
  }
  return call;
}

std::optional<Segment> JsonlReader::parse_segment(const json& j, const Call& call, int index) {
  const int64_t line = call.line;
  const std::string& cid = call.call_id;
  if (!j.is_object()) {
    diag_.error(file_, line, "segment-not-object", "segment is " + type_name(j) + ", not an object",
                cid, index);
    return std::nullopt;
  }
  Segment seg;
  seg.line = line;
  bool ok = true;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(kSegmentFields.begin(), kSegmentFields.end(), it.key()) != kSegmentFields.end())
      continue;
    if (unknown_keys_are_errors) {
      const std::string near = nearest(it.key(), kSegmentFields);
      diag_.error(file_, line, "unknown-field",
                  "unknown key '" + printable(it.key()) + "'" +
                      (near.empty() ? "" : "; did you mean '" + near + "'?") +
                      " (a segment has start, end, speaker and text)");
      continue;
    }
    unknown.note("segments[]." + it.key(), line);
    seg.extra[it.key()] = it.value();
  }
  auto time = [&](const char* key, double& out) {
    auto t = j.find(key);
    if (t == j.end() || !t->is_number() || !std::isfinite(t->get<double>())) {
      diag_.error(file_, line, "missing-field",
                  t == j.end() ? std::string("segment has no `") + key + "` time; add it in seconds"
                               : std::string("`") + key + "` must be a number of seconds, found " +
                                     type_name(*t),
                  cid, index);
      ok = false;
      return;
    }
    out = t->get<double>();
  };
  time("start", seg.start_s);
  time("end", seg.end_s);
  if (ok) {
    if (seg.start_s < 0 || seg.end_s < 0) {
      diag_.error(file_, line, "segment-negative-time",
                  "segment has a negative time (start " + format_seconds(seg.start_s) + ", end " +
                      format_number(seg.end_s) +
                      " s); times are seconds from the start of the audio",
                  cid, index);
      ok = false;
    } else if (seg.start_s >= seg.end_s) {
      std::ostringstream msg;
      msg << "segment starts at " << seg.start_s << " s but ends at " << seg.end_s
          << " s; start must be before end (swapped columns?)";
      diag_.error(file_, line, "segment-start-not-before-end", msg.str(), cid, index);
      ok = false;
    }
  }
  auto sp = j.find("speaker");
  if (sp == j.end() || !sp->is_string() || sp->get_ref<const std::string&>().empty()) {
    diag_.error(file_, line, "missing-field",
                sp == j.end() ? "segment has no `speaker`; use agent or customer"
                              : "`speaker` must be a role name, found " + type_name(*sp),
                cid, index);
    ok = false;
  } else {
    seg.speaker = sp->get<std::string>();
  }
  if (auto t = j.find("text"); t != j.end() && !t->is_null()) {
    if (!t->is_string()) {
      diag_.error(file_, line, "bad-field", "`text` must be a string, found " + type_name(*t), cid,
                  index);
    } else {
      seg.text = t->get<std::string>();
    }
  }
  if (!ok) return std::nullopt;
  if (auto l = j.find("labels"); l != j.end() && !l->is_null())
    parse_labels(*l, seg, call, index, false);
  if (auto l = j.find("labels_by"); l != j.end() && !l->is_null())
    parse_labels(*l, seg, call, index, true);
  return seg;
}

void JsonlReader::parse_labels(const json& j, Segment& seg, const Call& call, int index,
                               bool by_annotator) {
  const char* field = by_annotator ? "labels_by" : "labels";
  if (!j.is_object()) {
    diag_.error(file_, call.line, "bad-field",
                std::string("`") + field + "` must be an object, found " + type_name(j),
                call.call_id, index);
    return;
  }
  auto read = [&](const json& labels, std::map<std::string, int>& out, const std::string& context) {
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      if (auto idx = internal::check_label(schema_, it.key(), *it, seg.speaker, file_, call.line,
                                           call.call_id, index, context, diag_)) {
        out[it.key()] = *idx;
      }
    }
  };
  if (!by_annotator) {
    read(j, seg.labels, "");
    return;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it->is_object()) {
      diag_.error(file_, call.line, "bad-field",
                  "labels_by." + printable(it.key()) + " must be an object of task labels, found " +
                      type_name(*it),
                  call.call_id, index);
      continue;
    }
    read(*it, seg.labels_by[it.key()], "annotator '" + printable(it.key()) + "': ");
  }
}

}  // namespace

std::optional<Segment> parse_segment_json(const json& j, const Schema& schema,
                                          const std::string& file, int64_t line,
                                          const std::string& call_id, int index,
                                          Diagnostics& diag) {
  JsonlReader reader(schema, file, diag);
  Call call;
  call.call_id = call_id;
  call.line = line;
  return reader.parse_segment(j, call, index);
}

std::optional<Segment> internal::parse_transcript_segment(const json& j, const Schema& schema,
                                                          const std::string& file, int64_t line,
                                                          const std::string& call_id, int index,
                                                          Diagnostics& diag) {
  JsonlReader reader(schema, file, diag);
  reader.unknown_keys_are_errors = true;
  Call call;
  call.call_id = call_id;
  call.line = line;
  return reader.parse_segment(j, call, index);
}

namespace internal {

std::optional<int> check_label(const Schema& schema, const std::string& task_name,
                               const json& value, const std::string& speaker,
                               const std::string& file, int64_t line, const std::string& call_id,
                               int segment, const std::string& context, Diagnostics& diag) {
  const Task* task = schema.find(task_name);
  if (!task && !schema.complete) return std::nullopt;  // dataset.yaml's own errors say why
  if (!task) {
    std::string near = nearest(task_name, schema.task_names());
    diag.error(file, line, "label-unknown-task",
               context + "label for task '" + printable(task_name) +
                   "', which dataset.yaml does not declare" +
                   (near.empty() ? "; declare it under `labels` or remove the label"
                                 : " (did you mean '" + near + "'?)"),
               call_id, segment);
    return std::nullopt;
  }
  int index = -1;
  if (value.is_number_integer()) {
    auto v = value.get<int64_t>();
    if (v < 0 || v >= task->num_classes()) {
      diag.error(file, line, "label-out-of-range",
                 context + task_name + " label " + value.dump() +
                     " is outside the task's classes 0.." +
                     std::to_string(task->num_classes() - 1) + " (" + join(task->classes, ", ") +
                     ")",
                 call_id, segment);
      return std::nullopt;
    }
    index = static_cast<int>(v);
  } else if (value.is_string()) {
    index = task->class_index(value.get<std::string>());
    if (index < 0) {
      std::string near = nearest(value.get<std::string>(), task->classes);
      diag.error(file, line, "label-unknown-class",
                 context + task_name + " label \"" + printable(value.get<std::string>()) +
                     "\" is not one of its classes (" + join(task->classes, ", ") + ")" +
                     (near.empty() ? "" : "; did you mean '" + near + "'?"),
                 call_id, segment);
      return std::nullopt;
    }
  } else {
    diag.error(file, line, "label-bad-type",
               context + task_name + " label is " + type_name(value) +
                   "; use a class index (0, 1, ...) or a class name",
               call_id, segment);
    return std::nullopt;
  }
  if (speaker != task->speaker) {
    diag.error(file, line, "label-wrong-speaker",
               context + "task '" + task_name + "' is labelled on " + task->speaker +
                   " segments, but this segment's speaker is '" + printable(speaker) +
                   "'; fix the speaker or move the label",
               call_id, segment);
    return std::nullopt;
  }
  return index;
}

std::string unreachable_reason(const fs::path& path) {
  std::error_code ec;
  (void)fs::status(path, ec);
  if (!ec || ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory)
    return "";
  return ec.message();
}

std::string not_a_file(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || status.type() == fs::file_type::regular) return "";
  return status.type() == fs::file_type::directory
             ? "is a directory"
             : "is not a regular file (a device, pipe or socket)";
}

std::string permission_fix(const fs::path& root) {
  return "give your user read and search permission on the dataset directory and read "
         "permission on its files (e.g. chmod -R u+rX " +
         root.string() + "), or run tenor as a user who has them";
}

void check_call_ids(const Dataset& dataset, Diagnostics& diag) {
  std::map<std::string, const Call*> first;
  for (const auto& call : dataset.calls) {
    auto [it, inserted] = first.emplace(call.call_id, &call);
    if (inserted) continue;
    const Call& other = *it->second;
    if (!call.split.empty() && !other.split.empty() && call.split != other.split) {
      diag.error(dataset.source, call.line, "call-in-two-splits",
                 "call is in split '" + call.split + "' here and in '" + other.split +
                     "' on line " + std::to_string(other.line) +
                     "; a call must be in one split only",
                 call.call_id);
    }
    diag.error(dataset.source, call.line, "duplicate-call-id",
               "call_id is used again (first on line " + std::to_string(other.line) +
                   "); call_ids must be unique: rename one or merge the two lines",
               call.call_id);
  }
}

}  // namespace internal

std::string Call::speaker_id() const {
  auto it = meta.find("speaker_id");
  return it == meta.end() ? "" : it->second;
}

size_t Dataset::segment_count() const {
  size_t n = 0;
  for (const auto& c : calls) n += c.segments.size();
  return n;
}

std::optional<int> resolved_label(const Segment& segment, const Task& task) {
  if (auto it = segment.labels.find(task.name); it != segment.labels.end()) return it->second;
  std::vector<int> votes(task.classes.size(), 0);
  int total = 0;
  for (const auto& [annotator, labels] : segment.labels_by) {
    if (auto it = labels.find(task.name); it != labels.end()) {
      ++votes[static_cast<size_t>(it->second)];
      ++total;
    }
  }
  if (total == 0) return std::nullopt;
  int best = 0;
  for (int c = 1; c < static_cast<int>(votes.size()); ++c) {
    bool higher_wins_ties = task.type != TaskType::kCategorical;
    if (votes[c] > votes[best] || (higher_wins_ties && votes[c] == votes[best])) best = c;
  }
  return best;
}

void refuse_output_inside_dataset(const fs::path& root, const fs::path& out) {
  if (path_within(out, root))
    throw UsageError("output " + out.string() + " lies inside the input dataset " + root.string() +
                     "; tenor never writes into an input dataset: choose a path outside it");
}

bool path_stays_inside(const std::string& path) {
  if (path.empty() || path.find('\0') != std::string::npos) return false;
  fs::path p(path);
  if (p.is_absolute() || p.has_root_name() || p.has_root_directory()) return false;
  int depth = 0;
  for (const auto& part : p) {
    if (part == "..") {
      if (--depth < 0) return false;
    } else if (part != "." && !part.empty()) {
      ++depth;
    }
  }
  return depth > 0;
}

namespace {

/// Whether `root` is a directory whose files can be examined. Without search permission
/// on it (or a directory above it) nothing in it can: say so once, instead of calling
/// dataset.yaml and calls.jsonl missing.
bool directory_usable(const fs::path& root, Diagnostics& diag) {
  std::error_code ec;
  if (auto reason = internal::unreachable_reason(root); !reason.empty()) {
    diag.error(root.string(), 0, "dataset-unreadable",
               "cannot reach the dataset directory: " + reason +
                   "; give your user search permission on every directory above it (e.g. chmod "
                   "u+x " + fs::absolute(root).parent_path().string() + "), or run tenor as a "
                   "user who has it");
    return false;
  }
  if (!fs::is_directory(root, ec)) {
    const std::string name = root.filename().string();
    const bool dataset_file =
        name == "dataset.yaml" || name == "calls.jsonl" || name == "segments.csv";
    std::string what = fs::exists(root, ec) ? "a file" : "nothing is there";
    if (dataset_file && fs::is_regular_file(root, ec))
      what += "; give the directory that holds it (" +
              (root.has_parent_path() ? root.parent_path().string() : std::string(".")) + ")";
    diag.error(root.string(), 0, "dataset-missing",
               "not a dataset directory (it should hold dataset.yaml and calls.jsonl or "
               "segments.csv): " + what);
    return false;
  }
  if (auto reason = internal::unreachable_reason(root / "."); !reason.empty()) {
    diag.error(root.string(), 0, "dataset-unreadable",
               "cannot read the dataset directory: " + reason + "; " +
                   internal::permission_fix(root));
    return false;
  }
  return true;
}

/// Whether calls.jsonl and segments.csv are each absent or a regular file that can be examined.
bool sources_usable(const fs::path& root, Diagnostics& diag) {
  for (const char* source : {"calls.jsonl", "segments.csv"}) {
    if (auto reason = internal::unreachable_reason(root / source); !reason.empty()) {
      diag.error(source, 0, "unreadable",
                 std::string("cannot read ") + source + ": " + reason + "; " +
                     internal::permission_fix(root));
      return false;
    }
    if (auto kind = internal::not_a_file(root / source); !kind.empty()) {
      diag.error(source, 0, "unreadable",
                 std::string(source) + " " + kind +
                     "; it must be a text file (see docs/dataset-format.md)");
      return false;
    }
  }
  return true;
}

}  // namespace

Dataset load_dataset(const fs::path& root, Diagnostics& diag, const LoadOptions& options) {
  Dataset dataset;
  dataset.root = root;
  std::error_code ec;
  if (!directory_usable(root, diag)) return dataset;
  dataset.schema = load_schema(root / "dataset.yaml", "dataset.yaml", diag);
  if (!sources_usable(root, diag)) return dataset;
  const bool has_jsonl = fs::exists(root / "calls.jsonl", ec);
  const bool has_csv = fs::exists(root / "segments.csv", ec);
  if (has_jsonl && has_csv) {
    diag.warning(
        "segments.csv", 0, "two-sources",
        "both calls.jsonl and segments.csv exist; reading calls.jsonl and ignoring segments.csv");
  }
  if (!has_jsonl && has_csv) {
    try {
      dataset = internal::load_segments_csv(root, std::move(dataset.schema), diag, options);
    } catch (const IoError& e) {
      diag.error("segments.csv", 0, "unreadable", unreadable_message(e, root));
    }
    internal::check_call_ids(dataset, diag);
    return dataset;
  }
  if (!has_jsonl) {
    diag.error("calls.jsonl", 0, "calls-missing",
               "neither calls.jsonl nor segments.csv exists; add one of them (see "
               "docs/dataset-format.md)");
    return dataset;
  }
  const std::string file = "calls.jsonl";
  JsonlReader reader(dataset.schema, file, diag);
  // Lines are parsed in parallel batches (JSON parsing is most of the cost) and
  // checked in order, so findings and calls keep the file's order.
  struct Pending {
    std::string text;
    int64_t number = 0;
    uint64_t bytes = 0;
    bool too_long = false;
    json value;
    std::optional<JsonLineProblem> problem;
  };
  const unsigned threads = std::min(8u, cpu_share().usable());
  constexpr size_t kBatchBytes = size_t{8} << 20;
  std::vector<Pending> batch;
  auto flush = [&] {
    parallel_for(batch.size(), threads, [&](size_t i) {
      Pending& p = batch[i];
      if (!p.too_long) p.problem = parse_json_line(p.text, p.value);
    });
    for (Pending& p : batch) {
      if (p.too_long) {
        diag.error(file, p.number, "line-too-long",
                   "line is " + std::to_string(p.bytes) + " bytes, more than the " +
                       std::to_string(options.max_line_bytes) +
                       "-byte limit; it was skipped (a binary file or a missing line break?)");
      } else if (p.problem) {
        diag.error(file, p.number, p.problem->code, p.problem->message + json_line_fix(*p.problem));
      } else if (auto call = reader.parse(p.value, p.number)) {
        dataset.calls.push_back(std::move(*call));
      }
    }
    batch.clear();
  };
  try {
    LineReader lines(root / file, options.max_line_bytes);
    LineReader::Line line;
    size_t batch_bytes = 0;
    while (lines.next(line)) {
      if (!line.too_long && trim(line.text).empty()) continue;
      Pending& p = batch.emplace_back();
      p.number = line.number;
      p.bytes = line.bytes;
      p.too_long = line.too_long;
      p.text = line.text;
      batch_bytes += p.text.size();
      if (batch_bytes >= kBatchBytes) {
        flush();
        batch_bytes = 0;
      }
    }
    flush();
  } catch (const IoError& e) {
    diag.error(file, 0, "unreadable", unreadable_message(e, root));
  }
  for (const auto& [name, first_line] : reader.unknown.first_line) {
    diag.warning(file, first_line, "unknown-field",
                 "unknown field '" + printable(name) + "' is kept but ignored (first seen here)" +
                     field_hint(name));
  }
  internal::check_call_ids(dataset, diag);
  return dataset;
}

Dataset load_dataset_or_throw(const fs::path& root, const LoadOptions& options) {
  Diagnostics diag;
  Dataset dataset = load_dataset(root, diag, options);
  if (diag.error_count() > 0) {
    throw DataError("dataset " + root.string() + " has " + std::to_string(diag.error_count()) +
                    " error(s):" + diag.error_summary() + "\nfix them (see `tenor data validate " +
                    root.string() + "`) and try again");
  }
  return dataset;
}

std::string call_to_json_line(const Call& call) {
  json j = json::object();
  j["call_id"] = call.call_id;
  if (!call.audio.empty()) j["audio"] = call.audio;
  if (!call.channels.empty()) j["channels"] = call.channels;
  if (!call.split.empty()) j["split"] = call.split;
  if (!call.meta.empty()) j["meta"] = call.meta;
  json segs = json::array();
  for (const auto& s : call.segments) {
    json js = {{"start", s.start_s}, {"end", s.end_s}, {"speaker", s.speaker}};
    if (s.text) js["text"] = *s.text;
    if (!s.labels.empty()) js["labels"] = s.labels;
    if (!s.labels_by.empty()) js["labels_by"] = s.labels_by;
    for (auto it = s.extra.begin(); it != s.extra.end(); ++it) js[it.key()] = it.value();
    segs.push_back(std::move(js));
  }
  j["segments"] = std::move(segs);
  for (auto it = call.extra.begin(); it != call.extra.end(); ++it) j[it.key()] = it.value();
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void write_calls_jsonl(const Dataset& dataset, const fs::path& path) {
  AtomicFile out(path);
  for (const auto& call : dataset.calls) out.stream() << call_to_json_line(call) << '\n';
  out.commit();
}

}  // namespace tenor::data
