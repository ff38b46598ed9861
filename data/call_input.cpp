#include "data/call_input.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "data/audio.h"
#include "data/dataset_internal.h"
#include "data/json_line.h"
#include "data/line_reader.h"
#include "data/validate.h"

namespace tenor::data {
namespace fs = std::filesystem;

namespace {

/// A segment's speaker must be a role of the dataset format (agent, customer) or of the
/// model's tasks: a misspelt one ("cust") would silently score nothing. A known role the model
/// has no task for (agent turns for an escalation-only model) is fine: it is not scored.
std::vector<std::string> known_roles(const Schema& schema) {
  std::vector<std::string> roles = {"agent", "customer"};
  for (const auto& t : schema.tasks)
    if (std::find(roles.begin(), roles.end(), t.speaker) == roles.end()) roles.push_back(t.speaker);
  return roles;
}

/// "" when `role` is one of `roles`, else why not and the nearest one ("cust" -> customer).
std::string unknown_role(const std::string& role, const std::vector<std::string>& roles) {
  if (std::find(roles.begin(), roles.end(), role) != roles.end()) return "";
  std::string near = nearest(role, roles);
  for (const auto& r : roles)  // an abbreviation ("cust") names its role too
    if (near.empty() && !role.empty() && r.rfind(role, 0) == 0) near = r;
  return "'" + printable(role) + "' is not a role (" + join(roles, ", ") + ")" +
         (near.empty() ? "; use one of them" : "; did you mean '" + near + "'?");
}

void check_transcript_role(const Segment& seg, const Schema& schema, const std::string& file,
                           size_t line, Diagnostics& diag) {
  const std::string why = unknown_role(seg.speaker, known_roles(schema));
  if (!why.empty()) diag.error(file, line, "unknown-speaker", "speaker " + why);
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

std::vector<AudioWindows::Window> AudioWindows::full(double duration_s) {
  std::vector<Window> out;
  for (; next_start_s_ + window_s_ <= duration_s; next_start_s_ += window_s_) {
    out.push_back({next_start_s_, next_start_s_ + window_s_});
    last_start_s_ = next_start_s_;
    ++given_;
  }
  return out;
}

std::optional<AudioWindows::Tail> AudioWindows::end(double duration_s) const {
  if (!(next_start_s_ < duration_s)) return std::nullopt;
  if (given_ >= 1 && duration_s - next_start_s_ < window_s_ / 3)  // a short rest joins the last
    return Tail{{last_start_s_, duration_s}, true};
  return Tail{{next_start_s_, duration_s}, false};
}

namespace {

/// Windows of `window_s` over [0, duration) for one role.
void add_windows(Call& call, const std::string& role, double duration, double window_s) {
  AudioWindows cut(window_s);
  auto add = [&](const AudioWindows::Window& w) {
    Segment seg;
    seg.start_s = w.start_s;
    seg.end_s = w.end_s;
    seg.speaker = role;
    call.segments.push_back(seg);
  };
  for (const auto& w : cut.full(duration)) add(w);
  if (const auto tail = cut.end(duration)) {
    if (tail->joins)
      call.segments.back().end_s = tail->window.end_s;
    else
      add(tail->window);
  }
}

}  // namespace

json ChannelConvention::to_json() const {
  if (audio_channels <= 0) return nullptr;
  return {{"audio_channels", audio_channels}, {"channels", channels}};
}

ChannelConvention ChannelConvention::from_json(const json& j, const std::string& where) {
  ChannelConvention c;
  if (j.is_null() || (j.is_string() && j.get_ref<const std::string&>().empty())) return c;
  try {
    const json& v = j.is_string() ? json::parse(j.get<std::string>()) : j;
    if (v.is_null()) return c;
    c.audio_channels = v.at("audio_channels").get<int>();
    c.channels = v.at("channels").get<std::map<std::string, int>>();
  } catch (const json::exception& e) {
    throw DataError(where + ": the channel convention is not {\"audio_channels\": N, " +
                    "\"channels\": {ROLE: CHANNEL}} (" + e.what() + "); export the model again");
  }
  return c;
}

ChannelConvention channel_convention(const Dataset& ds,
                                     const std::map<std::string, AudioScan>& scans) {
  std::optional<ChannelConvention> shared;
  for (const auto& call : ds.calls) {
    auto scan = scans.find(call.audio);
    if (call.audio.empty() || scan == scans.end()) continue;
    ChannelConvention c{scan->second.info.channels,
                        scan->second.info.channels > 1 ? call.channels
                                                       : std::map<std::string, int>{}};
    if (!shared) shared = c;
    if (shared->audio_channels != c.audio_channels || shared->channels != c.channels) return {};
  }
  return shared.value_or(ChannelConvention{});
}

std::string channel_map_text(const std::map<std::string, int>& channels) {
  std::vector<std::string> items;
  for (const auto& [role, channel] : channels) items.push_back(role + "=" + std::to_string(channel));
  return join(items, ", ");
}

namespace {

/// The roles of `schema`'s tasks, each with its tasks: "agent (empathy), customer (escalation)".
std::map<std::string, std::vector<std::string>> tasks_by_role(const Schema& schema) {
  std::map<std::string, std::vector<std::string>> roles;
  for (const auto& t : schema.tasks) roles[t.speaker].push_back(t.name);
  return roles;
}

/// The channel mapping a call is scored with: as given; else the model's convention when the
/// audio fits it; else none when mixing is asked for or the audio is mono (with a warning that
/// says what is scored when the model scores two roles). UsageError for multi-channel audio
/// nobody mapped.
std::map<std::string, int> resolve_channels(const CallInput& in, const Schema& schema,
                                            int channels_in_file) {
  const std::string file = in.audio.string();
  for (const auto& [role, channel] : in.channels)  // a misspelt role would score nothing
    if (const std::string why = unknown_role(role, known_roles(schema)); !why.empty())
      throw UsageError("--channels: " + why);
  if (!in.channels.empty()) return in.channels;
  if (channels_in_file > 1 && !in.mix) {
    if (in.convention.fits(channels_in_file)) {
      logger("predict")->info("{}: {} channels, mapped as the model's training calls were ({}); "
                              "--channels overrides it",
                              file, channels_in_file, channel_map_text(in.convention.channels));
      return in.convention.channels;
    }
    const std::string known =
        in.convention.fits(in.convention.audio_channels)
            ? " (its training calls had " + std::to_string(in.convention.audio_channels) +
                  " channel(s): " + channel_map_text(in.convention.channels) + ")"
            : " (its training data records no mapping for such audio)";
    throw UsageError(file + " has " + std::to_string(channels_in_file) +
                     " channels and the model cannot tell which role speaks on which" + known +
                     "; say it with --channels agent=0,customer=1, or mix the channels into one "
                     "voice track with --mix");
  }
  const auto roles = tasks_by_role(schema);
  if (channels_in_file == 1 && roles.size() > 1) {
    std::vector<std::string> scored;
    for (const auto& [role, tasks] : roles) scored.push_back(role + " (" + join(tasks, ", ") + ")");
    logger("predict")->warn(
        "{} is mono and the model scores two roles, {}: {}", file, join(scored, " and "),
        in.transcript.empty() && !in.transcript_lines
            ? "without a transcript every window is scored as " + in.speaker +
                  " only (--speaker); give --transcript to score each role's turns"
            : "each transcript segment is scored as its speaker from the one channel, both "
              "voices included");
  }
  return {};
}

/// Windows of the audio, one set per mapped role (or as `speaker`), in start order.
void add_role_windows(Call& call, const CallInput& in, double duration_s) {
  if (call.channels.empty()) return add_windows(call, in.speaker, duration_s, in.window_s);
  for (const auto& [role, channel] : call.channels)
    add_windows(call, role, duration_s, in.window_s);
  std::stable_sort(call.segments.begin(), call.segments.end(),
                   [](const Segment& a, const Segment& b) { return a.start_s < b.start_s; });
}

/// Each line of the call's transcript: its file's, or the lines given in memory (numbered
/// from 1 alike).
void for_each_line(const CallInput& in, const std::function<void(const LineReader::Line&)>& fn) {
  LineReader::Line line;
  if (in.transcript_lines) {
    for (const std::string& text : *in.transcript_lines) {
      line.text = text;
      line.number += 1;
      line.bytes = text.size();
      fn(line);
    }
    return;
  }
  LineReader reader(in.transcript, size_t{16} << 20);
  while (reader.next(line)) fn(line);
}

/// The transcript's segments, each read by the dataset reader and checked for its role; every
/// problem goes to `diag` at the transcript's file and line.
void read_transcript(const CallInput& in, const Schema& schema, Call& call, Diagnostics& diag) {
  const std::string file = in.transcript.string();
  for_each_line(in, [&](const LineReader::Line& line) {
    if (line.too_long) {
      diag.error(file, line.number, "line-too-long",
                 "the line is over 16 MiB; one segment per line is expected");
      return;
    }
    if (line.text.find_first_not_of(" \t") == std::string_view::npos) return;
    json j;
    if (auto problem = parse_json_line(line.text, j)) {
      const bool number = problem->code == "number-out-of-range";
      diag.error(file, line.number, problem->code,
                 problem->message +
                     (number ? "; write the value as an ordinary number (seconds, e.g. 12.5)"
                             : "; each line must be one segment object such as {\"start\": 0.0, "
                               "\"end\": 3.4, \"speaker\": \"customer\", \"text\": \"...\"}"));
      return;
    }
    const int index = static_cast<int>(call.segments.size());
    auto seg =
        internal::parse_transcript_segment(j, schema, file, line.number, call.call_id, index, diag);
    if (!seg) return;
    check_transcript_role(*seg, schema, file, line.number, diag);
    seg->labels.clear();  // labels in a transcript are not used for prediction
    seg->labels_by.clear();
    if (!call.channels.empty() && !call.channels.count(seg->speaker))
      diag.error(file, line.number, "speaker-without-channel",
                 "speaker '" + printable(seg->speaker) + "' has no channel (" +
                     channel_map_text(call.channels) + "); add it to --channels (e.g. " +
                     seg->speaker + "=0)");
    call.segments.push_back(std::move(*seg));
  });
  if (call.segments.empty() && diag.error_count() == 0)
    diag.error(file, 0, "call-no-segments",
               "the transcript holds no segment; write one JSON object per line with start, end, speaker "
               "and text");
}

/// The call's audio file: its header, refused when it is not a file.
AudioInfo open_audio(const fs::path& audio) {
  std::error_code ec;
  if (!fs::is_regular_file(audio, ec))
    throw DataError(audio.string() + " is not a readable file; give the call's WAV or FLAC");
  return probe_audio(audio);
}

}  // namespace

Dataset single_call_dataset(const CallInput& in, Schema schema) {
  if (in.audio.empty() && in.transcript.empty() && !in.pcm && !in.transcript_lines)
    throw UsageError("give the call's audio (CALL.wav) and/or --transcript T.jsonl");
  if (!(in.window_s > 0) || !std::isfinite(in.window_s))
    throw UsageError("--window must be a positive number of seconds, got " +
                     format_number(in.window_s));
  Dataset ds;
  ds.schema = std::move(schema);
  Call call;
  call.call_id = !in.call_id.empty() ? in.call_id
                 : !in.audio.empty() ? in.audio.stem().string()
                                     : in.transcript.stem().string();
  std::optional<AudioInfo> info;
  ds.root = fs::absolute(in.audio.empty() ? in.transcript : in.audio).parent_path();
  if (in.pcm) {
    info = in.pcm->info();
    call.audio = in.audio.empty() ? std::string("samples") : in.audio.filename().string();
    call.pcm = in.pcm;
    call.channels = resolve_channels(in, ds.schema, info->channels);
  } else if (!in.audio.empty()) {
    info = open_audio(in.audio);
    call.audio = in.audio.filename().string();
    call.channels = resolve_channels(in, ds.schema, info->channels);
  } else {
    call.channels = in.channels;
  }
  Diagnostics diag;
  if (in.transcript.empty() && !in.transcript_lines) {
    add_role_windows(call, in, info->duration_s());
  } else {
    read_transcript(in, ds.schema, call, diag);
  }
  if (info) {
    // Validate's own check of a call against its audio, findings at the transcript's lines
    // (without the call id: the transcript is the call).
    Call located = call;
    located.call_id.clear();
    const std::string file =
        in.transcript.empty() && !in.transcript_lines ? in.audio.string() : in.transcript.string();
    internal::check_call_fits_audio(located, in.audio.string(), info->channels, info->duration_s(), file,
                          diag);
  }
  diag.sort();  // in line order, the transcript's and validate's findings together
  if (diag.error_count() > 0)
    throw DataError((in.transcript.empty() && !in.transcript_lines ? "the call has errors:" : "the transcript has errors:") +
                    diag.error_summary(20));
  ds.calls.push_back(std::move(call));
  return ds;
}

}  // namespace tenor::data
