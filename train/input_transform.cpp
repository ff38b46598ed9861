#include "train/input_transform.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>

#include "core/error.h"
#include "core/retired.h"
#include "core/text.h"
#include "data/features/columns.h"
#include "data/features/wordpiece.h"

namespace tenor::train {
using nlohmann::json;

namespace {

/// `j[key]` as T; DataError naming the source and the key when absent or mistyped.
template <typename T>
T get(const json& j, const char* key, const std::string& source) {
  if (!j.is_object() || !j.contains(key))
    throw DataError(source + " has no `" + key +
                    "`: the file was edited or damaged; restore it, or train the run again");
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw DataError(source + ": `" + key + "` is " + j.at(key).dump().substr(0, 60) +
                    ", not the expected type; restore the file, or train the run again");
  }
}

[[noreturn]] void inconsistent(const std::string& source, const std::string& what) {
  throw DataError(source + ": " + what +
                  "; the file was edited or damaged: restore it, or train the run again");
}

/// Mean and standard deviation (floor 1e-4: variance 1e-8) per column, as the trainer has
/// always computed them: sums of values and squares in double over the training split.
struct Moments {
  std::vector<double> sum, sum_sq, count;
  explicit Moments(size_t columns) : sum(columns, 0), sum_sq(columns, 0), count(columns, 0) {}
  void finish(std::vector<float>& mean, std::vector<float>& sd) const {
    for (size_t c = 0; c < sum.size(); ++c) {
      const double n = count[c];
      const double m = n > 0 ? sum[c] / n : 0, var = n > 0 ? sum_sq[c] / n - m * m : 1;
      mean.push_back(float(m));
      sd.push_back(float(std::sqrt(std::max(var, 1e-8))));
    }
  }
};

/// Statistics over the LLD frames and defined functionals of `rows`; with `speaker`, of
/// their deviations from each row's speaker means, over the functionals the speaker
/// centring defines (kSpeakerMinSegments).
Normalizer training_statistics(const features::Store& s, const std::vector<int64_t>& rows,
                               const SpeakerStatistics* speaker = nullptr) {
  const size_t fl = s.layout.lld_columns.size(), ff = s.layout.functional_columns.size();
  Moments lld(fl), func(ff);
  double frames = 0;
  for (int64_t r : rows) {
    const float* lld_centre = speaker ? &speaker->lld_mean[size_t(r) * fl] : nullptr;
    for (int64_t t = s.frame_offsets[size_t(r)]; t < s.frame_offsets[size_t(r) + 1]; ++t) {
      for (size_t c = 0; c < fl; ++c) {
        const double v = double(s.frames[size_t(t) * fl + c]) - (speaker ? lld_centre[c] : 0.0);
        lld.sum[c] += v, lld.sum_sq[c] += v * v;
      }
      frames += 1;
    }
    for (size_t c = 0; c < ff; ++c) {
      const size_t at = size_t(r) * ff + c;
      if (!s.functional_mask[at]) continue;
      if (speaker && speaker->func_count[at] < kSpeakerMinSegments) continue;
      const double v = double(s.functionals[at]) - (speaker ? speaker->func_mean[at] : 0.0);
      func.sum[c] += v, func.sum_sq[c] += v * v, func.count[c] += 1;
    }
  }
  std::fill(lld.count.begin(), lld.count.end(), frames);
  Normalizer n;
  lld.finish(n.lld_mean, n.lld_std);
  func.finish(n.func_mean, n.func_std);
  n.func_dropped.assign(ff, 0);
  n.lld_dropped.assign(fl, 0);
  return n;
}

/// speaker_normalization "call": the deviations from the speaker means, with means 0 (the
/// speaker's mean is the centre), each deviation at least 1 % of the column's raw one.
Normalizer speaker_centred_statistics(const features::Store& s, const std::vector<int64_t>& rows,
                                      const Normalizer& raw) {
  const SpeakerStatistics speaker = speaker_statistics(s);
  Normalizer n = training_statistics(s, rows, &speaker);
  auto floor_at = [](std::vector<float>& sd, const std::vector<float>& raw_sd) {
    for (size_t c = 0; c < sd.size(); ++c) sd[c] = std::max(sd[c], 0.01f * raw_sd[c]);
  };
  floor_at(n.lld_std, raw.lld_std);
  floor_at(n.func_std, raw.func_std);
  std::fill(n.lld_mean.begin(), n.lld_mean.end(), 0.0f);
  std::fill(n.func_mean.begin(), n.func_mean.end(), 0.0f);
  return n;
}

/// `names` joined by ", ", each run of five or more numbered columns of one prefix in order
/// (`speech_0` .. `speech_383`, a speech encoder's) as "first .. last", so that a message
/// listing a store's columns stays readable.
std::string column_listing(const std::vector<std::string>& names) {
  auto split = [](const std::string& n) -> std::pair<std::string, long> {
    const size_t us = n.rfind('_');
    if (us == std::string::npos || us + 1 == n.size() ||
        !std::all_of(n.begin() + long(us) + 1, n.end(),
                     [](char c) { return c >= '0' && c <= '9'; }))
      return {n, -1};
    return {n.substr(0, us + 1), std::stol(n.substr(us + 1))};
  };
  std::vector<std::string> out;
  for (size_t i = 0; i < names.size();) {
    const auto [prefix, first] = split(names[i]);
    size_t j = i + 1;
    while (first >= 0 && j < names.size() &&
           split(names[j]) == std::pair(prefix, first + long(j - i)))
      ++j;
    if (j - i >= 5)
      out.push_back(names[i] + " .. " + names[j - 1]);
    else
      out.insert(out.end(), names.begin() + long(i), names.begin() + long(j));
    i = j;
  }
  return join(out, ", ");
}

/// Marks the columns config.drop_features names in `n` (lld_dropped, func_dropped).
void drop_features(const TrainConfig& config, const features::Store& store,
                   const std::string& store_name, Normalizer& n) {
  const auto& lld = store.layout.lld_columns;
  const auto& func = store.layout.functional_columns;
  for (const std::string& pattern : config.drop_features) {
    bool matched = false;
    auto mark = [&](const std::vector<std::string>& names, std::vector<uint8_t>& dropped) {
      for (size_t c = 0; c < names.size(); ++c)
        if (fnmatch(pattern.c_str(), names[c].c_str(), 0) == 0) dropped[c] = 1, matched = true;
    };
    mark(lld, n.lld_dropped);
    mark(func, n.func_dropped);
    if (!matched)
      throw ConfigError("drop_features: `" + pattern + "` matches no column of " + store_name +
                        " (frame LLDs " + column_listing(lld) + "; functionals " +
                        column_listing(func) +
                        "); use one of those names, or a glob such as logmel_* or \"*_cv\"");
  }
  const auto all = [](const std::vector<uint8_t>& d) {
    return std::all_of(d.begin(), d.end(), [](uint8_t v) { return v != 0; });
  };
  if (!config.drop_features.empty() && all(n.lld_dropped) && all(n.func_dropped) &&
      !(config.model.use_text && !store.tokenizer_model.empty()))
    throw ConfigError("drop_features drops every feature column of " + store_name +
                      " and the model reads no text, so it would learn from nothing; keep "
                      "some columns");
}

}  // namespace

void SpeakerStatistics::set(size_t r, const features::SpeakerSums& sums) {
  const size_t n = size_t(std::max<int64_t>(rows, 1));
  const size_t fl = lld_mean.size() / n, ff = func_mean.size() / n;
  sums.means(fl, ff, lld_mean.data() + r * fl, func_mean.data() + r * ff,
             func_count.data() + r * ff);
}

SpeakerStatistics speaker_statistics(const features::Store& s) {
  const size_t fl = s.layout.lld_columns.size(), ff = s.layout.functional_columns.size();
  const size_t n = s.segments.size();
  // Sums in double per (call, speaker), then each row takes its group's means.
  std::map<std::pair<std::string, std::string>, features::SpeakerSums> sums;
  for (size_t r = 0; r < n; ++r) sums[{s.segments[r].call_id, s.segments[r].speaker}].add(s, r);
  SpeakerStatistics out;
  out.rows = int64_t(n);
  out.lld_mean.assign(n * fl, 0.0f);
  out.func_mean.assign(n * ff, 0.0f);
  out.func_count.assign(n * ff, 0.0f);
  for (size_t r = 0; r < n; ++r)
    out.set(r, sums.at({s.segments[r].call_id, s.segments[r].speaker}));
  return out;
}

json Normalizer::to_json() const {
  return {{"lld_mean", lld_mean},
          {"lld_std", lld_std},
          {"func_mean", func_mean},
          {"func_std", func_std},
          {"func_dropped", func_dropped},
          {"lld_dropped", lld_dropped}};
}

Normalizer Normalizer::from_json(const json& j, const std::string& source) {
  Normalizer n;
  n.lld_mean = get<std::vector<float>>(j, "lld_mean", source);
  n.lld_std = get<std::vector<float>>(j, "lld_std", source);
  n.func_mean = get<std::vector<float>>(j, "func_mean", source);
  n.func_std = get<std::vector<float>>(j, "func_std", source);
  n.func_dropped = get<std::vector<uint8_t>>(j, "func_dropped", source);
  if (n.lld_std.size() != n.lld_mean.size())
    inconsistent(source, "`lld_std` and `lld_mean` have different lengths");
  // Bundles and runs (format 4 and older) written before drop_features dropped no frame column.
  n.lld_dropped = j.contains("lld_dropped") ? get<std::vector<uint8_t>>(j, "lld_dropped", source)
                                            : std::vector<uint8_t>(n.lld_mean.size(), 0);
  if (n.func_std.size() != n.func_mean.size() || n.func_dropped.size() != n.func_mean.size())
    inconsistent(source, "`func_mean`, `func_std` and `func_dropped` have different lengths");
  if (!n.lld_dropped.empty() && n.lld_dropped.size() != n.lld_mean.size())
    inconsistent(source, "`lld_dropped` and `lld_mean` have different lengths");
  // Training floors every deviation above 0; an edited 0 would scale a column to infinity.
  auto check = [&](const std::vector<float>& sd, const std::vector<uint8_t>& dropped,
                   const char* key) {
    for (size_t c = 0; c < sd.size(); ++c)
      if ((dropped.empty() || !dropped[c]) && !(std::isfinite(sd[c]) && sd[c] > 0))
        inconsistent(source, "`" + std::string(key) + "` column " + std::to_string(c) + " is " +
                                 format_number(sd[c]) + ", not a deviation above 0");
  };
  check(n.lld_std, n.lld_dropped, "lld_std");
  check(n.func_std, n.func_dropped, "func_std");
  return n;
}

json InputTransform::to_json() const {
  json j = norm.to_json();
  j["level_lld_columns"] = level_lld_columns;
  j["normalize_loudness"] = normalize_loudness;
  j["speaker_normalization"] = speaker_normalization;
  j["max_frames"] = max_frames;
  j["max_tokens"] = max_tokens;
  j["use_text"] = use_text;
  j["context_tokens"] = context_tokens;
  j["wordpiece_sha256"] = wordpiece_sha256;
  return j;
}

void refuse_sentence_embeddings(const json& doc, const std::string& subject,
                                const std::string& fix) {
  const auto it = doc.find("text_embedding_dim");
  if (it == doc.end() || (it->is_number_integer() && it->get<int64_t>() == 0)) return;
  const auto encoder = doc.find("text_encoder");
  const std::string of = encoder != doc.end() && encoder->is_string()
                             ? " of '" + encoder->get<std::string>() + "'"
                             : "";
  throw DataError(subject + " sentence embeddings" + of + " (model.text_embedding): " +
                  kSentenceEmbeddingsRemoved + "; " + fix);
}

InputTransform InputTransform::from_json(const json& j, const std::string& source) {
  // First: such a transform (before 2026-12-06) may lack keys read below.
  refuse_sentence_embeddings(j, source + " feeds the model",
                             "train the model again with model.text_encoder and export that run");
  InputTransform t;
  t.norm = Normalizer::from_json(j, source);
  t.level_lld_columns = get<std::vector<int>>(j, "level_lld_columns", source);
  t.normalize_loudness = get<bool>(j, "normalize_loudness", source);
  // Transforms (runs of format 3, bundles) written before the key normalised no speaker.
  if (j.contains("speaker_normalization"))
    t.speaker_normalization = get<std::string>(j, "speaker_normalization", source);
  if (t.speaker_normalization != "none" && !t.per_speaker())
    inconsistent(source, "`speaker_normalization` is \"" + t.speaker_normalization +
                             "\", not none or call");
  t.max_frames = get<int>(j, "max_frames", source);
  t.max_tokens = get<int>(j, "max_tokens", source);
  t.use_text = get<bool>(j, "use_text", source);
  t.context_tokens = get<int>(j, "context_tokens", source);
  t.wordpiece_sha256 = get<std::string>(j, "wordpiece_sha256", source);
  const int lld = int(t.norm.lld_mean.size());
  for (int c : t.level_lld_columns)
    if (c < 0 || c >= lld)
      inconsistent(source, "`level_lld_columns` names column " + std::to_string(c) + " of " +
                               std::to_string(lld));
  if (t.max_frames < 1 || t.max_tokens < 1)
    inconsistent(source, "`max_frames` and `max_tokens` must be at least 1");
  if (t.context_tokens < 0) inconsistent(source, "`context_tokens` must be at least 0");
  return t;
}

InputTransform make_input_transform(const TrainConfig& config, Normalizer statistics,
                                    std::vector<int> level_lld_columns,
                                    const StoreInputs& store) {
  const ModelConfig& m = config.model;
  InputTransform t;
  t.norm = std::move(statistics);
  t.level_lld_columns = std::move(level_lld_columns);
  t.normalize_loudness = config.normalize_loudness;
  t.speaker_normalization = config.speaker_normalization;
  t.max_frames = m.max_frames;
  t.max_tokens = m.max_tokens;
  t.use_text = m.use_text;
  // Only the fusion model reads context, and only through its text encoder, which exists
  // when the store has text (train/model.cpp FusionModel): TaskModel::context_tokens().
  const bool text_encoder = m.type == "fusion" && m.use_text && (store.tokens || store.wordpiece);
  t.context_tokens = text_encoder ? m.context_tokens : 0;
  if (store.wordpiece) {
    t.wordpiece = store.wordpiece;
    t.wordpiece_sha256 = store.wordpiece->sha256();
  }
  return t;
}

InputTransform build_input_transform(
    const TrainConfig& config, const features::Store& store, const std::vector<int64_t>& train_rows,
    const std::string& store_name, std::shared_ptr<const features::WordPieceTokenizer> wordpiece) {
  const features::LevelMarks marks = features::level_marks(store, store_name);
  std::vector<int> level_lld;
  for (size_t c = 0; c < marks.lld.size(); ++c)
    if (marks.lld[c]) level_lld.push_back(int(c));
  Normalizer n = training_statistics(store, train_rows);
  if (config.speaker_normalization == "call")
    n = speaker_centred_statistics(store, train_rows, n);
  if (config.normalize_loudness) {
    // Absolute-level functionals go; scale-free ones (coefficients of variation) stay.
    for (size_t c = 0; c < marks.functionals.size(); ++c)
      if (marks.functionals[c]) n.func_dropped[c] = 1;
    // The per-segment level removal changes the LLD distribution: its statistics are
    // computed on the normalised frames in make_batch's terms (mean 0 per segment).
    for (int c : level_lld) n.lld_mean[size_t(c)] = 0;
  }
  drop_features(config, store, store_name, n);
  const StoreInputs inputs{!store.tokenizer_model.empty(), std::move(wordpiece)};
  return make_input_transform(config, std::move(n), std::move(level_lld), inputs);
}

void check_transform_fits(const InputTransform& t, const std::string& source,
                          const features::Store& store, const std::string& store_name) {
  const size_t fl = store.layout.lld_columns.size(), ff = store.layout.functional_columns.size();
  if (t.norm.lld_mean.size() != fl || t.norm.func_mean.size() != ff)
    throw DataError(source + " holds statistics of " + std::to_string(t.norm.lld_mean.size()) +
                    " LLD and " + std::to_string(t.norm.func_mean.size()) +
                    " functional columns, but " + store_name + " has " + std::to_string(fl) +
                    " and " + std::to_string(ff) +
                    "; use a store built with the run's extractor settings, or restore " + source);
  if (!t.wordpiece_sha256.empty() && !store.has_text)
    throw DataError(store_name + " keeps no transcripts (it was built before tenor kept them), "
                    "but " + source + " reads them through a pretrained text encoder; rebuild "
                    "it with `tenor data build`");
}

TranscriptIds transcript_ids(const InputTransform& t, const features::Store& store,
                             const std::vector<int64_t>& previous,
                             const std::vector<int64_t>& rows) {
  if (!t.wordpiece)
    throw std::logic_error("transcript_ids: the transform's WordPiece tokenizer is not attached");
  if (previous.size() != store.segments.size())
    throw std::logic_error("transcript_ids: the previous-segment map is not that of this store");
  std::vector<features::WordPieceTokenizer::Encoding> encoded;
  TranscriptIds out;
  out.rows = int64_t(rows.size());
  for (int64_t row : rows) {
    std::optional<std::vector<int32_t>> context;
    if (const int64_t p = t.context_tokens > 0 ? previous[size_t(row)] : -1; p >= 0) {
      context = t.wordpiece->tokenize(store.segments[size_t(p)].text);
      if (context->size() > size_t(t.context_tokens)) context->resize(size_t(t.context_tokens));
    }
    encoded.push_back(t.wordpiece->encode_ids(t.wordpiece->tokenize(store.segments[size_t(row)].text),
                                              std::move(context), size_t(t.max_tokens)));
    out.width = std::max(out.width, int64_t(encoded.back().ids.size()));
  }
  const size_t n = size_t(out.rows * out.width);
  out.ids.assign(n, t.wordpiece->pad_id());
  out.type_ids.assign(n, 0);
  out.mask.assign(n, 0);
  for (size_t i = 0; i < encoded.size(); ++i)
    for (size_t k = 0; k < encoded[i].ids.size(); ++k) {
      const size_t at = i * size_t(out.width) + k;
      out.ids[at] = encoded[i].ids[k];
      out.type_ids[at] = k < encoded[i].first_length ? 0 : 1;  // the sentence, as BERT's types
      out.mask[at] = 1;
    }
  return out;
}

void attach_wordpiece(InputTransform& t, const std::filesystem::path& file) {
  if (t.wordpiece_sha256.empty()) return;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw DataError(file.string() + " is missing: the model reads transcripts through its text "
                    "encoder's tokenizer, which the run (or bundle) keeps there; restore it, or "
                    "train the run again");
  auto tokenizer = std::make_shared<const features::WordPieceTokenizer>(file);
  if (tokenizer->sha256() != t.wordpiece_sha256)
    throw DataError(file.string() + " has SHA-256 " + tokenizer->sha256().substr(0, 12) +
                    ", but the model was trained with the tokenizer " +
                    t.wordpiece_sha256.substr(0, 12) +
                    "; restore the file the run (or bundle) was written with");
  t.wordpiece = std::move(tokenizer);
}

void check_transform_fits_model(const InputTransform& t, const std::string& source,
                                int model_context_tokens) {
  if (t.context_tokens == model_context_tokens) return;
  inconsistent(source, "it feeds " + std::to_string(t.context_tokens) +
                           " context tokens, but the run's model reads " +
                           std::to_string(model_context_tokens));
}

}  // namespace tenor::train
