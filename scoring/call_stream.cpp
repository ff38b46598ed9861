#include "scoring/call_stream.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/text.h"
#include "data/features/sample_rate.h"
#include "scoring/call_scoring.h"

namespace tenor::scoring {
using nlohmann::json;

namespace {

/// A turn as one line of a transcript file, read by the dataset reader (as the Scorer's).
std::string turn_line(const std::string& speaker, double start_s, double end_s,
                      const std::string& text) {
  return json{{"start", start_s}, {"end", end_s}, {"speaker", speaker},
              {"text", text.empty() ? json() : json(text)}}
      .dump();
}

/// The roles a call's segments may have for `model` (as data::single_call_dataset's check).
std::vector<std::string> known_roles(const train::Predictor& model) {
  std::vector<std::string> roles = {"agent", "customer"};
  for (const auto& t : model.tasks())
    if (std::find(roles.begin(), roles.end(), t.speaker) == roles.end()) roles.push_back(t.speaker);
  return roles;
}

}  // namespace

CallStream::CallStream(train::Predictor& model, std::mutex* model_lock, StreamSetup setup)
    : model_(model),
      model_lock_(model_lock),
      setup_(std::move(setup)),
      extractor_(predict_build_options(model, "cpu"), model.tokenizer_model()),
      windows_(setup_.window_s) {
  const std::string name = "stream " + setup_.call_id;
  if (setup_.channels < 1 || setup_.channels > 8)
    throw UsageError(name + ": " + std::to_string(setup_.channels) +
                     " channels; a stream takes 1 (mono) or 2 (one voice each) channels");
  if (!(setup_.sample_rate_hz > 0))
    throw UsageError(name + ": sample_rate_hz is " + std::to_string(setup_.sample_rate_hz) +
                     "; give the rate of the samples");
  if (!(setup_.max_turn_s > 0) || !std::isfinite(setup_.max_turn_s))
    throw UsageError(name + ": max_turn_s is " + format_number(setup_.max_turn_s) +
                     "; give the longest turn in seconds, e.g. 300");
  if (setup_.windows && (!(setup_.window_s > 0) || !std::isfinite(setup_.window_s)))
    throw UsageError(name + ": window_s is " + format_number(setup_.window_s) +
                     "; give the seconds per window, e.g. 10");
  if (setup_.windows && setup_.window_s * 2 > setup_.max_turn_s)
    throw UsageError(name + ": window_s " + format_number(setup_.window_s) + " needs max_turn_s " +
                     "of at least twice that (" + format_number(setup_.max_turn_s) +
                     " given): the stream holds a window's audio until its end; raise max_turn_s");
  const features::BuildOptions options = predict_build_options(model, "cpu");
  if (!setup_.allow_narrowband)
    features::check_sample_rate(setup_.sample_rate_hz, name, options.lld);
  // The channel mapping, resolved once as a call's is (the bundle's convention, given roles,
  // --mix), from a call of no samples: UsageError now for stereo nobody mapped.
  data::CallInput in = call_input({});
  const data::Dataset probe = data::single_call_dataset(in, predict_schema(model));
  channels_ = probe.calls.at(0).channels;
  for (const auto& [role, channel] : channels_) window_roles_.push_back(role);
  if (window_roles_.empty()) {  // windows of one role, as a call without a mapping (mono, mix)
    const auto roles = known_roles(model);
    if (setup_.windows && std::find(roles.begin(), roles.end(), setup_.speaker) == roles.end())
      throw UsageError(name + ": speaker '" + setup_.speaker + "' is not a role of the bundle (" +
                       join(roles, ", ") + "); give the role of the stream's voice");
    window_roles_.push_back(setup_.speaker);
  }
  if (channels_.empty() && setup_.channels == 1)  // mono: every role reads the one channel
    for (const auto& role : known_roles(model)) channels_[role] = 0;
  buffer_.resize(size_t(setup_.channels));
}

data::CallInput CallStream::call_input(const std::vector<const Turn*>& turns) const {
  auto pcm = std::make_shared<data::PcmView>();
  pcm->sample_rate_hz = setup_.sample_rate_hz;
  pcm->first_frame = dropped_ + offset_;
  pcm->frames = held_frames();
  pcm->name = "stream " + setup_.call_id + " (samples)";
  for (const auto& c : buffer_) pcm->channels.push_back(c.data() + offset_);
  if (buffer_.empty()) pcm->channels.assign(size_t(setup_.channels), nullptr);
  data::CallInput in;
  in.call_id = setup_.call_id;
  in.pcm = pcm;
  in.audio = pcm->name;
  in.channels = channels_.empty() ? setup_.roles : channels_;
  in.mix = setup_.mix;
  in.convention = setup_.convention;
  if (!turns.empty()) {
    in.transcript = "stream " + setup_.call_id + " turn " + std::to_string(turns_);
    in.transcript_lines.emplace();
    for (const Turn* t : turns)
      in.transcript_lines->push_back(turn_line(t->speaker, t->start_s, t->end_s, t->text));
  }
  return in;
}

std::vector<json> CallStream::push(const std::vector<const float*>& channels, size_t frames) {
  const std::string name = "stream " + setup_.call_id;
  if (finished_) throw UsageError(name + " is finished; open a new stream for more audio");
  if (channels.size() != size_t(setup_.channels))
    throw DataError(name + ": a chunk of " + std::to_string(channels.size()) +
                    " channel(s), but the stream was opened with " +
                    std::to_string(setup_.channels) + "; push every channel of the call at once");
  data::NonFiniteSamples non_finite;
  for (size_t c = 0; c < channels.size(); ++c) {
    if (frames > 0 && !channels[c])
      throw DataError(name + ": channel " + std::to_string(c) + " of the chunk is null");
    for (size_t i = 0; i < frames; ++i)
      if (!std::isfinite(channels[c][i]))
        non_finite.add(int(c), pushed_frames_ + int64_t(i), channels[c][i]);
  }
  if (non_finite.count > 0)
    throw DataError(name + ": " + non_finite.describe(setup_.sample_rate_hz) +
                    "; give finite samples at full scale 1 (nothing of this chunk was taken)");
  // A second at a time, so that a long chunk is held only as far as its windows (or
  // max_turn_s) need it, and its windows are scored in order.
  std::vector<json> scored;
  const size_t piece = size_t(setup_.sample_rate_hz);
  for (size_t from = 0; from < frames; from += piece) {
    const size_t n = std::min(piece, frames - from);
    for (size_t c = 0; c < channels.size(); ++c)
      buffer_[c].insert(buffer_[c].end(), channels[c] + from, channels[c] + from + n);
    pushed_frames_ += int64_t(n);
    if (setup_.windows)
      for (auto& j : score_windows(pushed_s())) scored.push_back(std::move(j));
    drop_audio();
  }
  return scored;
}

/// Drops the audio no turn to come can start in: before the last turn's start, and before
/// max_turn_s ago. The buffer is compacted once half of it is dropped (amortised O(1)).
void CallStream::drop_audio() {
  const int64_t keep_from = std::max<int64_t>(
      int64_t(std::floor(last_start_s_ * setup_.sample_rate_hz)),
      pushed_frames_ - int64_t(std::ceil(setup_.max_turn_s * setup_.sample_rate_hz)));
  offset_ = std::clamp<int64_t>(keep_from - dropped_, offset_, held_frames() + offset_);
  if (offset_ > 0 && offset_ * 2 >= int64_t(buffer_[0].size())) {
    for (auto& c : buffer_) {
      c.erase(c.begin(), c.begin() + offset_);
      if (c.capacity() > 2 * c.size() + 4096) c.shrink_to_fit();
    }
    dropped_ += offset_;
    offset_ = 0;
  }
}

void CallStream::check_turn(const Turn& t) const {
  const std::string turn = "stream " + setup_.call_id + " turn " + std::to_string(turns_) + " (" +
                           t.speaker + ", " + format_seconds(t.start_s) + " to " +
                           format_seconds(t.end_s) + ")";
  if (finished_) throw UsageError(turn + ": the stream is finished; open a new one");
  if (!std::isfinite(t.start_s) || !std::isfinite(t.end_s) || t.start_s < 0 || !(t.end_s > t.start_s))
    throw DataError(turn + ": a turn needs 0 <= start < end, finite; fix the times");
  if (t.end_s > pushed_s() + 1e-9)
    throw DataError(turn + " ends after the audio pushed so far (" + format_seconds(pushed_s()) +
                    "); push the turn's audio first, then the turn");
  if (t.start_s < last_start_s_)
    throw DataError(turn + " starts before the previous turn (" + format_seconds(last_start_s_) +
                    "); give turns in the order they start");
  for (const Turn& k : kept_)
    if (k.speaker == t.speaker && t.start_s < k.end_s)
      throw DataError(turn + " starts inside the same speaker's previous turn (" +
                      format_seconds(k.start_s) + " to " + format_seconds(k.end_s) +
                      "); a speaker's turns must not overlap: merge them or fix the times");
  const double held_from = double(dropped_ + offset_) / setup_.sample_rate_hz;
  if (std::floor(t.start_s * setup_.sample_rate_hz) < double(dropped_ + offset_))
    throw DataError(turn + " starts in audio the stream no longer holds (it keeps " +
                    format_seconds(setup_.max_turn_s) + ", from " + format_seconds(held_from) +
                    "); give turns sooner, or open the stream with a larger max_turn_s");
}

json CallStream::push_turn(const std::string& speaker, double start_s, double end_s,
                           const std::string& text) {
  if (setup_.windows && !finished_)
    throw UsageError("stream " + setup_.call_id + " was opened with windows (StreamOptions::" +
                     "windows): it cuts and scores the audio itself; open a stream without " +
                     "windows to give turns");
  return score_turns({Turn{speaker, text, start_s, end_s}}).at(0);
}

/// Scores `group`, turns that start in this order after the turns given so far (a turn, or a
/// window of each role), from one dataset of the turns kept and the group, so that each
/// counts the others' overlap. Returns their provisional scores; keeps what their final ones
/// need (Row).
std::vector<json> CallStream::score_turns(const std::vector<Turn>& group) {
  // Each turn alone through the dataset reader and validate's checks first, so that a message
  // names it (line 1) rather than its place among the turns kept.
  for (const Turn& t : group) {
    check_turn(t);
    data::single_call_dataset(call_input({&t}), predict_schema(model_));
  }
  std::vector<const Turn*> turns;
  for (const Turn& k : kept_) turns.push_back(&k);
  for (const Turn& t : group) turns.push_back(&t);
  const data::Dataset call = data::single_call_dataset(call_input(turns), predict_schema(model_));
  std::vector<features::Turn> call_turns;
  for (const auto& seg : call.calls.at(0).segments)
    call_turns.push_back({seg.speaker, seg.start_s, seg.end_s});
  std::vector<json> scored;
  for (size_t i = 0; i < group.size(); ++i) {
    const size_t s = kept_.size() + i;
    Row row{turns_ + int(i), group[i], extractor_.extract(call, s, baselines_), s, call_turns};
    if (model_.transform().per_speaker()) speaker_sums_[group[i].speaker].add(row.store, s);
    scored.push_back(score_row(row.store, s, row.segment));
    finals_.push_back(scored.back());
    rows_.push_back(std::move(row));
  }
  for (const Turn& t : group) note_overlaps(t);
  for (const Turn& t : group) keep(t);
  settle();
  drop_audio();
  return scored;
}

/// Row `row` of `store` scored (the store is given back as it was): centred, for call
/// normalisation, on each speaker's statistics so far (speaker_sums_).
json CallStream::score_row(features::Store& store, size_t row, int segment) {
  std::unique_lock<std::mutex> lock;
  if (model_lock_) lock = std::unique_lock<std::mutex>(*model_lock_);
  train::TrainData data = model_.prepare(std::move(store), "stream " + setup_.call_id);
  if (model_.transform().per_speaker()) {
    const features::Store& st = data.store;
    data.speaker.rows = int64_t(st.segments.size());
    data.speaker.lld_mean.assign(st.segments.size() * st.layout.lld_columns.size(), 0.0f);
    data.speaker.func_mean.assign(st.segments.size() * st.layout.functional_columns.size(), 0.0f);
    data.speaker.func_count.assign(data.speaker.func_mean.size(), 0.0f);
    for (size_t r = 0; r < st.segments.size(); ++r)
      if (auto it = speaker_sums_.find(st.segments[r].speaker); it != speaker_sums_.end())
        data.speaker.set(r, it->second);
  }
  const std::vector<int64_t> rows = {int64_t(row)};
  json scores = train::segment_scores(model_, data, rows, model_.probabilities(data, rows)).at(0);
  store = std::move(data.store);
  scores["segment"] = segment;
  return scores;
}

/// `turn`, just given, overlaps earlier segments of the other speaker whose features are
/// kept: their turn-taking features will count it (in call order, as offline).
void CallStream::note_overlaps(const Turn& turn) {
  for (Row& r : rows_) {
    if (r.turn.speaker == turn.speaker || r.segment >= turns_) continue;  // same group: counted
    if (std::min(r.turn.end_s, turn.end_s) - std::max(r.turn.start_s, turn.start_s) <= 0) continue;
    r.turns.push_back({turn.speaker, turn.start_s, turn.end_s});
    r.overlapped = true;
  }
}

/// Gives the segments no turn to come can overlap (they end by the last turn's start) their
/// final score, re-scored when a later turn overlapped them, and drops their features. Call
/// normalisation keeps every segment's until finish(): each final score needs the call's
/// statistics.
void CallStream::settle() {
  if (model_.transform().per_speaker()) return;
  for (size_t i = 0; i < rows_.size();) {
    if (rows_[i].turn.end_s > last_start_s_) {
      ++i;
      continue;
    }
    if (rows_[i].overlapped) finals_.at(size_t(rows_[i].segment)) = final_score(rows_[i]);
    rows_.erase(rows_.begin() + long(i));
  }
}

/// A kept segment's final score: its turn-taking features from the turns known now.
json CallStream::final_score(Row& r) {
  const features::StoreSegment& seg = r.store.segments.at(r.row);
  features::set_turn_taking(
      r.store, r.row,
      features::segment_info({seg.speaker, seg.start_s, seg.end_s}, r.turns, std::nullopt));
  return score_row(r.store, r.row, r.segment);
}

/// The windows of the audio up to `duration_s` not scored yet, each for every role of
/// window_roles_ (as data::single_call_dataset cuts a call without a transcript).
std::vector<json> CallStream::score_windows(double duration_s) {
  std::vector<json> scored;
  for (const auto& w : windows_.full(duration_s)) {
    undo_ = Undo{kept_, turns_, last_start_s_, baselines_, speaker_sums_};
    std::vector<Turn> group;
    for (const auto& role : window_roles_) group.push_back({role, "", w.start_s, w.end_s});
    for (auto& j : score_turns(group)) scored.push_back(std::move(j));
  }
  return scored;
}

/// The end of a stream in windows: the rest of the audio scored as one more window, or the
/// last window scored again with the rest joined to it (its features and sums undone first).
void CallStream::end_windows() {
  const std::string name = "stream " + setup_.call_id;
  if (pushed_frames_ == 0)
    throw DataError(name + ": no audio was pushed, so there is no window to score; push the "
                    "call's audio before finish()");
  data::PcmView pcm;  // the audio as a call's: refused when shorter than one analysis frame
  pcm.sample_rate_hz = setup_.sample_rate_hz;
  pcm.first_frame = dropped_ + offset_;
  pcm.frames = held_frames();
  pcm.name = name + " (" + std::to_string(pushed_frames_) + " samples pushed)";
  for (const auto& c : buffer_) pcm.channels.push_back(c.data() + offset_);
  check_call_audio(pcm, predict_build_options(model_, "cpu").lld);
  const auto tail = windows_.end(pushed_s());
  if (!tail) return;
  if (tail->joins) {
    kept_ = undo_->kept;
    turns_ = undo_->turns;
    last_start_s_ = undo_->last_start_s;
    baselines_ = undo_->baselines;
    speaker_sums_ = undo_->speaker_sums;
    finals_.resize(size_t(turns_));
    rows_.erase(std::remove_if(rows_.begin(), rows_.end(),
                               [&](const Row& r) { return r.segment >= turns_; }),
                rows_.end());
  }
  std::vector<Turn> group;
  for (const auto& role : window_roles_)
    group.push_back({role, "", tail->window.start_s, tail->window.end_s});
  score_turns(group);
}

std::vector<json> CallStream::finish() {
  if (finished_)
    throw UsageError("stream " + setup_.call_id + " is finished already; its final scores came " +
                     "from the first finish(): open a new stream for another call");
  if (setup_.windows) end_windows();
  for (Row& r : rows_)
    if (r.overlapped || model_.transform().per_speaker())
      finals_.at(size_t(r.segment)) = final_score(r);
  rows_.clear();
  finished_ = true;
  std::vector<json> finals = std::move(finals_);
  finals_.clear();
  return finals;
}

/// Keeps what the features of turns to come read: each speaker's last two turns (the gap to
/// and overlap with the other speaker, the previous turn's text as context, the check that a
/// speaker's turns do not overlap).
void CallStream::keep(Turn turn) {
  last_start_s_ = turn.start_s;
  ++turns_;
  const std::string speaker = turn.speaker;
  kept_.push_back(std::move(turn));
  int seen = 0;
  for (size_t i = kept_.size(); i-- > 0;)
    if (kept_[i].speaker == speaker && ++seen > 2) kept_.erase(kept_.begin() + long(i));
}

}  // namespace tenor::scoring
