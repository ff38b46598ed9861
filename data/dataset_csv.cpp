// segments.csv: the spreadsheet form of a call dataset (one row per segment and
// annotator). Parsed with a small RFC 4180 reader of our own because every
// finding must carry the physical line number, including inside quoted fields
// that span lines, and overlong fields must be rejected without buffering them.
#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "data/dataset.h"
#include "data/dataset_internal.h"

namespace tenor::data {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kFile = "segments.csv";
const std::vector<std::string> kFixedColumns = {"call_id", "audio", "channels",  "start", "end",
                                                "speaker", "text",  "annotator", "split"};

struct Row {
  std::vector<std::string> fields;
  int64_t line = 0;
};

/// Streams RFC 4180 records: fields separated by commas, optionally quoted with
/// '"', quotes doubled inside quoted fields, records ended by LF or CRLF.
class CsvReader {
 public:
  CsvReader(const fs::path& path, size_t max_record_bytes, Diagnostics& diag)
      : in_(path, std::ios::binary), max_(max_record_bytes), diag_(diag) {
    if (!in_) throw IoError("cannot open " + path.string() + ": " + std::strerror(errno));
  }

  bool next(Row& row) {
    row.fields.clear();
    row.line = line_;
    std::string field;
    bool quoted = false, in_quotes = false, any = false, too_long = false;
    size_t bytes = 0;
    int c;
    while ((c = in_.get()) != EOF) {
      any = true;
      if (++bytes > max_ && !too_long) {
        too_long = true;
        diag_.error(kFile, row.line, "line-too-long",
                    "record is longer than " + std::to_string(max_) +
                        " bytes; it was skipped (an unclosed quote or a binary file?)");
      }
      if (in_quotes) {
        if (c == '"') {
          if (in_.peek() == '"') {
            in_.get();
            if (!too_long) field += '"';
          } else {
            in_quotes = false;
          }
        } else {
          if (c == '\n') ++line_;
          if (!too_long) field += static_cast<char>(c);
        }
        continue;
      }
      if (c == '"' && field.empty() && !quoted) {
        quoted = in_quotes = true;
      } else if (c == ',') {
        if (!too_long) row.fields.push_back(std::move(field));
        field.clear();
        quoted = false;
      } else if (c == '\n') {
        ++line_;
        break;
      } else if (c == '\r' && in_.peek() == '\n') {
        continue;
      } else if (!too_long) {
        field += static_cast<char>(c);
      }
    }
    if (!any) return false;
    if (in_quotes) {
      diag_.error(kFile, row.line, "csv-malformed",
                  "a quoted field opened on this line is never closed; add the closing '\"'");
    }
    row.fields.push_back(std::move(field));
    if (too_long) row.fields.clear();
    return true;
  }

 private:
  std::ifstream in_;
  size_t max_;
  Diagnostics& diag_;
  int64_t line_ = 1;
};

std::optional<double> parse_number(const std::string& s) {
  std::string_view v = trim(s);
  double out = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || ptr != v.data() + v.size() || !std::isfinite(out)) return std::nullopt;
  return out;
}

/// Why a time cell is not a usable number of seconds ("" when it is one).
std::string time_problem(const char* name, const std::string& s) {
  if (parse_number(s)) return "";
  std::string_view v = trim(s);
  double out = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  std::string said = std::string(name) + " \"" + printable(s, 40) + "\"";
  if (ec == std::errc::result_out_of_range && ptr == v.data() + v.size())
    return said + " is out of range (numbers must lie within -1.8e308..1.8e308)";
  return said + " is not a number of seconds";
}

/// Parses "agent:0;customer:1".
bool parse_channels(const std::string& s, std::map<std::string, int>& out) {
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find(';', pos);
    if (end == std::string::npos) end = s.size();
    std::string item(trim(std::string_view(s).substr(pos, end - pos)));
    size_t colon = item.find(':');
    if (colon == std::string::npos) return false;
    auto n = parse_number(item.substr(colon + 1));
    if (!n || *n < 0 || *n > 255 || *n != std::floor(*n)) return false;  // as in calls.jsonl
    out[std::string(trim(item.substr(0, colon)))] = static_cast<int>(*n);
    pos = end + 1;
  }
  return true;
}

std::string format_time(double t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", t);
  // Shortest form that reads back to the same double.
  for (int precision = 1; precision <= 17; ++precision) {
    char shorter[32];
    std::snprintf(shorter, sizeof shorter, "%.*g", precision, t);
    if (std::strtod(shorter, nullptr) == t) return shorter;
  }
  return buf;
}

std::string csv_field(const std::string& s) {
  return s.find_first_of(",\"\r\n") == std::string::npos ? s : quote_doubled(s);
}

}  // namespace

namespace internal {

Dataset load_segments_csv(const fs::path& root, Schema schema, Diagnostics& diag,
                          const LoadOptions& options) {
  Dataset dataset;
  dataset.root = root;
  dataset.schema = std::move(schema);
  dataset.source = kFile;
  CsvReader reader(root / kFile, options.max_line_bytes, diag);
  Row header;
  if (!reader.next(header) || header.fields.empty()) {
    diag.error(kFile, 1, "csv-malformed",
               "segments.csv is empty; its first row must name the columns");
    return dataset;
  }
  std::map<std::string, size_t> column;
  std::vector<std::string> task_columns;
  std::vector<std::pair<std::string, size_t>> meta_columns;
  for (size_t i = 0; i < header.fields.size(); ++i) {
    std::string name(trim(header.fields[i]));
    if (!is_valid_utf8(name)) {
      diag.error(kFile, 1, "not-utf8",
                 "column " + std::to_string(i + 1) + " name is not valid UTF-8");
      continue;
    }
    if (!column.emplace(name, i).second) {
      diag.error(kFile, 1, "csv-duplicate-column",
                 "column '" + printable(name) + "' appears twice");
      continue;
    }
    if (name.rfind("meta.", 0) == 0) {
      meta_columns.emplace_back(name.substr(5), i);
    } else if (dataset.schema.find(name)) {
      task_columns.push_back(name);
    } else if (std::find(kFixedColumns.begin(), kFixedColumns.end(), name) == kFixedColumns.end()) {
      std::vector<std::string> known = kFixedColumns;
      for (const auto& t : dataset.schema.task_names()) known.push_back(t);
      std::string near = nearest(name, known);
      diag.warning(kFile, 1, "unknown-field",
                   "unknown column '" + printable(name) + "' is ignored" +
                       (near.empty() ? "" : " (did you mean '" + near + "'?)"));
    }
  }
  for (const char* required : {"call_id", "start", "end", "speaker"}) {
    if (!column.count(required)) {
      diag.error(
          kFile, 1, "missing-field",
          std::string("segments.csv has no `") + required + "` column; the header must name it");
    }
  }
  if (diag.error_count() > 0 && (!column.count("call_id") || !column.count("start") ||
                                 !column.count("end") || !column.count("speaker"))) {
    return dataset;
  }
  auto cell = [&](const Row& row, const std::string& name) -> std::string {
    auto it = column.find(name);
    if (it == column.end() || it->second >= row.fields.size()) return "";
    return row.fields[it->second];
  };

  std::map<std::string, size_t> call_index;
  std::map<std::pair<size_t, std::string>, size_t>
      segment_index;  // (call, "start|end|speaker") -> segment
  Row row;
  while (reader.next(row)) {
    if (row.fields.empty() || (row.fields.size() == 1 && trim(row.fields[0]).empty())) continue;
    bool utf8 = std::all_of(row.fields.begin(), row.fields.end(),
                            [](const std::string& f) { return is_valid_utf8(f); });
    if (!utf8) {
      diag.error(kFile, row.line, "not-utf8",
                 "row is not valid UTF-8 text; save the file as UTF-8");
      continue;
    }
    if (row.fields.size() != header.fields.size()) {
      diag.error(kFile, row.line, "csv-malformed",
                 "row has " + std::to_string(row.fields.size()) + " fields but the header has " +
                     std::to_string(header.fields.size()) + "; check for an unquoted comma");
      continue;
    }
    std::string call_id(trim(cell(row, "call_id")));
    if (call_id.empty()) {
      diag.error(kFile, row.line, "missing-field", "row has an empty call_id");
      continue;
    }
    auto [cit, new_call] = call_index.emplace(call_id, dataset.calls.size());
    if (new_call) {
      Call call;
      call.call_id = call_id;
      call.line = row.line;
      std::string audio(trim(cell(row, "audio")));
      if (!audio.empty() && !path_stays_inside(audio)) {
        diag.error(
            kFile, row.line, "audio-path-escapes",
            "audio path \"" + printable(audio) +
                "\" leaves the dataset directory; audio paths must be relative and stay inside it",
            call_id);
      } else {
        call.audio = audio;
      }
      if (std::string ch(trim(cell(row, "channels")));
          !ch.empty() && !parse_channels(ch, call.channels)) {
        diag.error(kFile, row.line, "bad-channel",
                   "channels \"" + printable(ch) +
                       "\" is not of the form agent:0;customer:1 (channel indices 0 to 255)",
                   call_id);
      }
      std::string split(trim(cell(row, "split")));
      if (!split.empty() && split != "train" && split != "dev" && split != "test") {
        diag.error(
            kFile, row.line, "bad-split",
            "split is \"" + printable(split) + "\"; use train, dev or test, or leave it empty",
            call_id);
      } else {
        call.split = split;
      }
      for (const auto& [key, idx] : meta_columns) {
        if (!row.fields[idx].empty()) call.meta[key] = row.fields[idx];
      }
      dataset.calls.push_back(std::move(call));
    }
    Call& call = dataset.calls[cit->second];
    if (!new_call) {
      std::string split(trim(cell(row, "split")));
      if (split != call.split && !split.empty()) {
        diag.error(kFile, row.line, "call-in-two-splits",
                   "row puts the call in split '" + printable(split) + "' but line " +
                       std::to_string(call.line) + " put it in '" + call.split +
                       "'; a call must be in one split only",
                   call_id);
      }
      if (std::string audio(trim(cell(row, "audio")));
          audio != call.audio && path_stays_inside(audio)) {
        diag.error(kFile, row.line, "csv-inconsistent-call",
                   "row gives audio \"" + printable(audio) + "\" but line " +
                       std::to_string(call.line) + " gave \"" + printable(call.audio) +
                       "\"; every row of a call must name the same audio",
                   call_id);
      }
    }
    auto start = parse_number(cell(row, "start"));
    auto end = parse_number(cell(row, "end"));
    std::string speaker(trim(cell(row, "speaker")));
    const int next_index = static_cast<int>(call.segments.size());
    if (!start || !end) {
      std::string problem = time_problem("start", cell(row, "start"));
      if (std::string e = time_problem("end", cell(row, "end")); !e.empty())
        problem += (problem.empty() ? "" : " and ") + e;
      const bool range = problem.find("out of range") != std::string::npos;
      diag.error(kFile, row.line, range ? "number-out-of-range" : "missing-field",
                 problem + "; write start and end as ordinary numbers of seconds, e.g. 12.5",
                 call_id, next_index);
      continue;
    }
    if (*start < 0 || *end < 0) {
      diag.error(kFile, row.line, "segment-negative-time",
                 "segment has a negative time (start " + format_time(*start) + " s, end " +
                     format_time(*end) + " s); times are seconds from the start of the audio",
                 call_id, next_index);
      continue;
    }
    if (*start >= *end) {
      diag.error(kFile, row.line, "segment-start-not-before-end",
                 "segment starts at " + format_time(*start) + " s but ends at " +
                     format_time(*end) + " s; start must be before end (swapped columns?)",
                 call_id, next_index);
      continue;
    }
    if (speaker.empty()) {
      diag.error(kFile, row.line, "missing-field",
                 "row has an empty speaker; use agent or customer", call_id, next_index);
      continue;
    }
    std::string key = format_time(*start) + "|" + format_time(*end) + "|" + speaker;
    auto [sit, new_segment] =
        segment_index.emplace(std::make_pair(cit->second, key), call.segments.size());
    if (new_segment) {
      Segment seg;
      seg.start_s = *start;
      seg.end_s = *end;
      seg.speaker = speaker;
      seg.line = row.line;
      if (column.count("text")) seg.text = cell(row, "text");
      call.segments.push_back(std::move(seg));
    }
    Segment& seg = call.segments[sit->second];
    const int seg_index = static_cast<int>(sit->second);
    if (seg.text && seg.text->empty() && !cell(row, "text").empty()) seg.text = cell(row, "text");
    std::string annotator(trim(cell(row, "annotator")));
    for (const auto& task : task_columns) {
      std::string value(trim(cell(row, task)));
      if (value.empty()) continue;
      json j;
      // Whole numbers are class indices; a huge one stays text (no int64 for 1e300).
      if (auto n = parse_number(value); n && *n == std::floor(*n) && std::abs(*n) < 1e15) {
        j = static_cast<int64_t>(*n);
      } else {
        j = value;
      }
      std::string context = annotator.empty() ? "" : "annotator '" + printable(annotator) + "': ";
      if (auto idx = check_label(dataset.schema, task, j, seg.speaker, kFile, row.line, call_id,
                                 seg_index, context, diag)) {
        (annotator.empty() ? seg.labels : seg.labels_by[annotator])[task] = *idx;
      }
    }
  }
  return dataset;
}

}  // namespace internal

void write_segments_csv(const Dataset& dataset, const fs::path& path) {
  std::set<std::string> meta_keys;
  for (const auto& c : dataset.calls)
    for (const auto& [k, v] : c.meta) meta_keys.insert(k);
  const auto tasks = dataset.schema.task_names();
  AtomicFile out(path);
  auto& s = out.stream();
  s << "call_id,audio,channels,start,end,speaker,text";
  for (const auto& t : tasks) s << ',' << csv_field(t);
  s << ",annotator,split";
  for (const auto& k : meta_keys) s << ',' << csv_field("meta." + k);
  s << '\n';
  for (const auto& call : dataset.calls) {
    std::string channels;
    for (const auto& [role, ch] : call.channels) {
      if (!channels.empty()) channels += ';';
      channels += role + ":" + std::to_string(ch);
    }
    auto write_row = [&](const Segment& seg, const std::map<std::string, int>& labels,
                         const std::string& annotator) {
      s << csv_field(call.call_id) << ',' << csv_field(call.audio) << ',' << csv_field(channels)
        << ',' << format_time(seg.start_s) << ',' << format_time(seg.end_s) << ','
        << csv_field(seg.speaker) << ',' << csv_field(seg.text.value_or(""));
      for (const auto& t : tasks) {
        s << ',';
        if (auto it = labels.find(t); it != labels.end()) s << it->second;
      }
      s << ',' << csv_field(annotator) << ',' << call.split;
      for (const auto& k : meta_keys) {
        s << ',';
        if (auto it = call.meta.find(k); it != call.meta.end()) s << csv_field(it->second);
      }
      s << '\n';
    };
    for (const auto& seg : call.segments) {
      if (!seg.labels.empty() || seg.labels_by.empty()) write_row(seg, seg.labels, "");
      for (const auto& [annotator, labels] : seg.labels_by) write_row(seg, labels, annotator);
    }
  }
  out.commit();
}

}  // namespace tenor::data
