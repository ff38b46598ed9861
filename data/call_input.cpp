#include "data/call_input.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/text.h"
#include "data/audio.h"
#include "data/json_line.h"
#include "data/line_reader.h"
#include "data/validate.h"

namespace tenor::data {
namespace fs = std::filesystem;

namespace {

/// A transcript line's keys must be a segment's: a misspelt one ("txt") would be ignored and
/// its text silently missing from the scores.
void check_transcript_keys(const nlohmann::json& j, const std::string& file, size_t line,
                           Diagnostics& diag) {
  static const std::vector<std::string> known = {"start", "end", "speaker",
                                                 "text",  "labels", "labels_by"};
  if (!j.is_object()) return;  // parse_segment_json names that
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
    const std::string near = nearest(it.key(), known);
    diag.error(file, line, "unknown-field",
               "unknown key '" + printable(it.key()) + "'" +
                   (near.empty() ? "" : "; did you mean '" + near + "'?") +
                   " (a segment has start, end, speaker and text)");
  }
}

/// A segment's speaker must be a role of the dataset format (agent, customer) or of the
/// model's tasks: a misspelt one ("cust") would silently score nothing. A known role the model
/// has no task for (agent turns for an escalation-only model) is fine: it is not scored.
void check_transcript_role(const Segment& seg, const Schema& schema, const std::string& file,
                           size_t line, Diagnostics& diag) {
  std::vector<std::string> roles = {"agent", "customer"};
  for (const auto& t : schema.tasks)
    if (std::find(roles.begin(), roles.end(), t.speaker) == roles.end()) roles.push_back(t.speaker);
  if (std::find(roles.begin(), roles.end(), seg.speaker) != roles.end()) return;
  std::string near = nearest(seg.speaker, roles);
  for (const auto& r : roles)  // an abbreviation ("cust") names its role too
    if (near.empty() && !seg.speaker.empty() && r.rfind(seg.speaker, 0) == 0) near = r;
  diag.error(file, line, "unknown-speaker",
             "speaker '" + printable(seg.speaker) + "' is not a role (" + join(roles, ", ") + ")" +
                 (near.empty() ? "; use one of them" : "; did you mean '" + near + "'?"));
}

}  // namespace
using nlohmann::json;

std::map<std::string, int> parse_channel_map(const std::string& text) {
  std::map<std::string, int> out;
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    const auto eq = item.find('=');
    int channel = -1;
    if (eq != std::string::npos && eq > 0) {
      try {
        size_t used = 0;
        channel = std::stoi(item.substr(eq + 1), &used);
        if (used != item.size() - eq - 1) channel = -1;
      } catch (const std::exception&) {
        channel = -1;
      }
    }
    if (channel < 0)
      throw UsageError("channel mapping item '" + printable(item) +
                       "' is not ROLE=CHANNEL; write e.g. --channels agent=0,customer=1");
    out[item.substr(0, eq)] = channel;
  }
  if (out.empty())
    throw UsageError("empty channel mapping; write e.g. --channels agent=0,customer=1");
  return out;
}

namespace {

std::string seconds(double s) {
  std::ostringstream o;
  o << s << " s";
  return o.str();
}

/// Windows of `window_s` over [0, duration) for one role.
void add_windows(Call& call, const std::string& role, double duration, double window_s) {
  const size_t first = call.segments.size();
  for (double start = 0; start < duration; start += window_s) {
    Segment seg;
    seg.start_s = start;
    seg.end_s = std::min(duration, start + window_s);
    seg.speaker = role;
    call.segments.push_back(seg);
  }
  if (call.segments.size() - first >= 2 &&
      call.segments.back().duration_s() < window_s / 3) {  // a short tail joins the one before
    const double end = call.segments.back().end_s;
    call.segments.pop_back();
    call.segments.back().end_s = end;
  }
}

}  // namespace

Dataset single_call_dataset(const CallInput& in, Schema schema) {
  if (in.audio.empty() && in.transcript.empty())
    throw UsageError("give the call's audio (CALL.wav) and/or --transcript T.jsonl");
  if (!(in.window_s > 0) || !std::isfinite(in.window_s))
    throw UsageError("--window must be a positive number of seconds, got " +
                     format_number(in.window_s));
  Dataset ds;
  ds.schema = std::move(schema);
  Call call;
  call.channels = in.channels;
  call.call_id = !in.call_id.empty() ? in.call_id
                 : !in.audio.empty() ? in.audio.stem().string()
                                     : in.transcript.stem().string();
  std::optional<AudioInfo> info;
  if (!in.audio.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(in.audio, ec))
      throw DataError(in.audio.string() + " is not a readable file; give the call's WAV or FLAC");
    info = probe_audio(in.audio);
    ds.root = fs::absolute(in.audio).parent_path();
    call.audio = in.audio.filename().string();
    for (const auto& [role, channel] : in.channels)
      if (channel >= info->channels)
        throw DataError(in.audio.string() + " has " + std::to_string(info->channels) +
                        " channel(s), so role '" + role + "' cannot be on channel " +
                        std::to_string(channel) + "; channels count from 0");
  } else {
    ds.root = fs::absolute(in.transcript).parent_path();
  }

  if (in.transcript.empty()) {
    if (in.channels.empty()) {
      add_windows(call, in.speaker, info->duration_s(), in.window_s);
    } else {
      for (const auto& [role, channel] : in.channels)
        add_windows(call, role, info->duration_s(), in.window_s);
      std::stable_sort(call.segments.begin(), call.segments.end(),
                       [](const Segment& a, const Segment& b) { return a.start_s < b.start_s; });
    }
  } else {
    Diagnostics diag;
    const std::string file = in.transcript.string();
    LineReader reader(in.transcript, size_t{16} << 20);
    LineReader::Line line;
    while (reader.next(line)) {
      if (line.too_long) {
        diag.error(file, line.number, "line-too-long",
                   "the line is over 16 MiB; one segment per line is expected");
        continue;
      }
      if (line.text.find_first_not_of(" \t") == std::string_view::npos) continue;
      json j;
      if (auto problem = parse_json_line(line.text, j)) {
        const bool number = problem->code == "number-out-of-range";
        diag.error(file, line.number, problem->code,
                   problem->message +
                       (number ? "; write the value as an ordinary number (seconds, e.g. 12.5)"
                               : "; each line must be one segment object such as {\"start\": 0.0, "
                                 "\"end\": 3.4, \"speaker\": \"customer\", \"text\": \"...\"}"));
        continue;
      }
      check_transcript_keys(j, file, line.number, diag);
      const int index = static_cast<int>(call.segments.size());
      auto seg = parse_segment_json(j, ds.schema, file, line.number, call.call_id, index, diag);
      if (!seg) continue;
      check_transcript_role(*seg, ds.schema, file, line.number, diag);
      seg->labels.clear();  // labels in a transcript are not used for prediction
      seg->labels_by.clear();
      if (info && seg->end_s > info->duration_s() + kEndToleranceSeconds)
        diag.error(file, line.number, "segment-past-end",
                   "segment ends at " + seconds(seg->end_s) + ", past the audio's " +
                       seconds(info->duration_s()) + " (" + in.audio.string() +
                       "); fix end or give the right audio");
      if (!in.channels.empty() && !in.channels.count(seg->speaker))
        diag.error(file, line.number, "speaker-without-channel",
                   "speaker '" + printable(seg->speaker) +
                       "' has no channel in --channels; add it (e.g. " + seg->speaker + "=0)");
      call.segments.push_back(std::move(*seg));
    }
    if (diag.error_count() > 0)
      throw DataError("the transcript has errors:" + diag.error_summary(20));
    if (call.segments.empty())
      throw DataError(file +
                      " holds no segment; write one JSON object per line with start, "
                      "end, speaker and text");
  }
  ds.calls.push_back(std::move(call));
  return ds;
}

}  // namespace tenor::data
