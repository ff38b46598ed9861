#include "train/data.h"

#include <yaml-cpp/yaml.h>

#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

#include "core/error.h"
#include "core/sha256.h"
#include "core/text.h"
#include "data/features/build.h"
#include "data/features/functionals.h"
#include "data/features/lld_config.h"
#include "data/features/speech_encoder.h"
#include "data/features/tokenizer.h"
#include "data/features/wordpiece.h"
#include "train/predict.h"
#include "train/text_encoder.h"

namespace tenor::train {
using nlohmann::json;

void assign_labelled_splits(TrainData& d) {
  d.train.clear(), d.dev.clear(), d.test.clear();
  for (size_t i = 0; i < d.store.segments.size(); ++i) {
    const auto& s = d.store.segments[i];
    bool labelled = false;
    for (int c : d.task_columns) labelled |= s.labels[static_cast<size_t>(c)] >= 0;
    if (!labelled) continue;
    (s.split == "train"  ? d.train
     : s.split == "dev"  ? d.dev
     : s.split == "test" ? d.test
                         : d.train)
        .push_back(int64_t(i));
  }
}

void set_speaker_statistics(TrainData& d) {
  d.speaker = d.transform.per_speaker() ? speaker_statistics(d.store) : SpeakerStatistics{};
}

TrainData inference_data(features::Store store, const std::string& store_name,
                         const StoreContract& model, const InputTransform& transform) {
  TrainData d;
  d.store = std::move(store);
  d.store_path = store_name;
  d.shape = model.shape;
  d.task_columns = check_store_for_model(d.store, store_name, model);
  check_transform_fits(transform, model.model + "'s input transform", d.store, store_name);
  d.transform = transform;
  assign_labelled_splits(d);
  d.previous = features::previous_segments(d.store);
  set_speaker_statistics(d);
  return d;
}

std::vector<TaskSpec> task_specs(const features::Store& store,
                                 const std::vector<std::string>& wanted, const ModelConfig& model) {
  YAML::Node schema = YAML::Load(store.meta.schema_yaml);
  std::vector<std::string> names = wanted.empty() ? store.layout.tasks : wanted;
  std::vector<TaskSpec> specs;
  for (const auto& name : names) {
    auto node = schema["labels"][name];
    if (!node || std::find(store.layout.tasks.begin(), store.layout.tasks.end(), name) ==
                     store.layout.tasks.end()) {
      std::string near = nearest(name, store.layout.tasks);
      throw ConfigError("task '" + name + "' is not in the feature store (it has " +
                        join(store.layout.tasks, ", ") + ")" +
                        (near.empty() ? "" : "; did you mean '" + near + "'?"));
    }
    TaskSpec t;
    t.name = name;
    t.type = data::task_type_from_string(
        node["type"].as<std::string>(""),
        "the feature store's schema (its dataset.yaml), task '" + name + "'");
    t.num_classes = static_cast<int>(node["classes"].size());
    if (auto it = store.task_classes.find(name); it != store.task_classes.end())
      t.classes = it->second;
    t.speaker = node["speaker"].as<std::string>();
    t.text = model.use_text;
    // Compliance: inferring an employee's emotions from voice is prohibited in the EU
    // (AI Act art. 5(1)(f)); agent-side tasks are text-only unless explicitly opted in.
    const bool voice_allowed = t.speaker != "agent" || model.agent_prosody;
    t.prosody = model.use_prosody && voice_allowed;
    t.functionals = model.use_functionals && voice_allowed;
    specs.push_back(t);
  }
  return specs;
}

namespace {

/// model.text_encoder: its directory, architecture and tokenizer, checked to belong together
/// and to fit the store and model.max_tokens before anything trains.
std::shared_ptr<const features::WordPieceTokenizer> read_text_encoder(TrainData& d,
                                                                      const TrainConfig& config) {
  const ModelConfig& m = config.model;
  if (m.text_encoder.empty() || !m.use_text || m.type != "fusion") return nullptr;
  d.text_encoder_dir = resolve_text_encoder(m.text_encoder);
  const BertConfig bert = BertConfig::from_file(d.text_encoder_dir / "config.json");
  auto tokenizer =
      std::make_shared<const features::WordPieceTokenizer>(d.text_encoder_dir / "tokenizer.json");
  if (tokenizer->vocab_size() > bert.vocab_size)
    throw DataError((d.text_encoder_dir / "tokenizer.json").string() + " has " +
                    std::to_string(tokenizer->vocab_size()) + " tokens, but " +
                    (d.text_encoder_dir / "config.json").string() + " gives the encoder " +
                    std::to_string(bert.vocab_size) +
                    " embeddings: the vocabulary belongs to another encoder; fetch the encoder "
                    "again (tools/text-encoders/fetch.sh)");
  if (m.max_tokens > bert.max_tokens())
    throw ConfigError("model.max_tokens is " + std::to_string(m.max_tokens) + ", but " +
                      m.text_encoder + " reads at most " + std::to_string(bert.max_tokens()) +
                      " tokens; use at most that");
  if (!d.store.has_text)
    throw DataError(config.features + " keeps no transcripts (built before tenor kept them), "
                    "which model.text_encoder reads; rebuild it with `tenor data build`");
  d.shape.transformer = bert;
  return tokenizer;
}

/// The model's dimensions and tasks over `d.store` (d.shape, d.task_columns).
void read_shape(TrainData& d, const TrainConfig& config) {
  d.shape.tasks = task_specs(d.store, config.tasks, config.model);
  const auto& tasks = d.store.layout.tasks;
  for (const auto& t : d.shape.tasks)
    d.task_columns.push_back(
        static_cast<int>(std::find(tasks.begin(), tasks.end(), t.name) - tasks.begin()));
  d.shape.lld_features = static_cast<int>(d.store.layout.lld_columns.size());
  d.shape.functional_features = static_cast<int>(d.store.layout.functional_columns.size());
  // With a pretrained encoder the store's SentencePiece tokens feed only the n-gram bag.
  const bool sentencepiece = config.model.text_encoder.empty() || config.model.ngrams;
  if (!d.store.tokenizer_model.empty() && config.model.use_text && sentencepiece)
    d.shape.vocab_size = features::Tokenizer(d.store.tokenizer_model).vocab_size();
}

/// The labelled rows per split, refusing a store without training rows.
void assign_splits(TrainData& d, const std::string& store_name) {
  assign_labelled_splits(d);
  if (!d.train.empty()) return;
  std::vector<std::string> names;
  for (const auto& t : d.shape.tasks) names.push_back(t.name);
  throw DataError(store_name + " has no labelled training segments for " + join(names, ", ") +
                  "; assign splits with `tenor data split` and rebuild the store");
}

/// Per task [K]: total / (K * count of class k) over the training rows (count at least 1).
std::vector<torch::Tensor> class_weights(const TrainData& d) {
  std::vector<torch::Tensor> out;
  for (size_t k = 0; k < d.shape.tasks.size(); ++k) {
    std::vector<double> counts(size_t(d.shape.tasks[k].num_classes), 0);
    double total = 0;
    for (int64_t r : d.train) {
      int y = d.store.segments[size_t(r)].labels[size_t(d.task_columns[k])];
      if (y >= 0) counts[size_t(y)] += 1, total += 1;
    }
    std::vector<float> w;
    for (double c : counts) w.push_back(float(total / (double(counts.size()) * std::max(c, 1.0))));
    out.push_back(torch::tensor(w));
  }
  return out;
}

}  // namespace

void check_store_for_config(const TrainConfig& config, const features::Store& store,
                            const std::string& store_name) {
  const std::string& wanted = config.speech_encoder;
  if (wanted.empty()) return;
  const features::SpeechRecord have = features::speech_record(store.meta.extractor_config);
  const bool built = !have.name.empty();
  const std::string& name = have.name;
  // The window asked for; where the config leaves it open, the store's, or the default.
  const std::string window = !config.speech_window.empty() ? config.speech_window
                             : built                       ? have.window
                                                           : "padded";
  // A misspelt name is refused as such (with the nearest known one) before any build advice.
  const bool same_name = built && name == wanted;
  const std::filesystem::path dir =
      same_name ? std::filesystem::path()
                : features::resolve_speech_encoder(wanted, "speech_encoder");
  const std::string& sha = have.sha256;
  // The same name, or the same weights under another (a directory); the weights' SHA-256 is
  // checked where they are read.
  const bool same_encoder =
      same_name || (built && !sha.empty() && sha256_file(dir / "model.bin") == sha);
  if (same_encoder && have.window == window) return;
  const std::string build = speech_build_command(store, store_name, {wanted, "", window});
  if (same_encoder)
    throw ConfigError("speech_window: the config reads the states of the speech encoder '" +
                      wanted + "' in the " + window + " window, but " + store_name +
                      " holds them in the " + have.window + " window; build it with " + build +
                      ", or set speech_window: " + have.window + " (or \"\") to train on these");
  throw ConfigError("speech_encoder: the config reads the states of the speech encoder '" +
                    wanted + "', but " + store_name + " was built " +
                    (built ? "with those of " + name + " (SHA-256 " + sha.substr(0, 12) + ")"
                           : std::string("without a speech encoder")) +
                    "; build it with " + build +
                    ", or set speech_encoder: \"\" to train without the states");
}

std::string speech_build_command(const features::Store& store, const std::string& out,
                                 const features::SpeechRecord& speech) {
  const std::string& dataset = store.meta.dataset_dir;
  return "`tenor data build " + (dataset.empty() ? std::string("DATASET") : dataset) +
         " --out " + out + " --speech-encoder " + speech.name +
         (speech.window == "padded" ? "" : " --speech-window " + speech.window) + "`";
}

TrainData load_train_data(const TrainConfig& config, const InputTransform* given) {
  return load_train_data(config, features::read_store(config.features), given);
}

TrainData load_train_data(const TrainConfig& config, features::Store store,
                          const InputTransform* given) {
  TrainData d;
  d.store_path = config.features;
  d.store = std::move(store);
  features::check_store_versions(d.store.meta, features::kFeatureSetVersion,
                                 features::kFunctionalsVersion, config.features);
  if (!given) check_store_for_config(config, d.store, config.features);
  read_shape(d, config);
  auto wordpiece = read_text_encoder(d, config);
  assign_splits(d, config.features);
  d.previous = features::previous_segments(d.store);
  if (given) {
    check_transform_fits(*given, "the run's input transform", d.store, config.features);
    d.transform = *given;
  } else {
    d.transform =
        build_input_transform(config, d.store, d.train, config.features, std::move(wordpiece));
  }
  set_speaker_statistics(d);
  d.class_weights = class_weights(d);
  return d;
}

namespace {

/// Widths of a batch: the longest kept frames, tokens and context of its rows (at least 1).
struct BatchWidths {
  int64_t frames = 1, tokens = 1, context = 1;
};

/// Where row r's context lies in the store's tokens: the first context_tokens tokens of its
/// previous segment in the call ({0, 0} without one, or when the run reads no context).
std::pair<int64_t, int64_t> context_span(const TrainData& d, size_t r) {
  const int64_t p = d.transform.reads_context_tokens() ? d.previous[r] : -1;
  if (p < 0) return {0, 0};
  const int64_t k0 = d.store.token_offsets[size_t(p)];
  return {k0, std::min<int64_t>(d.transform.context_tokens,
                                d.store.token_offsets[size_t(p) + 1] - k0)};
}

/// Row r's frames [T, F] and T: the augmented ones when `augmented` holds the row, else the
/// store's.
std::pair<const float*, int64_t> row_frames(const TrainData& d, size_t r,
                                            const AugmentedRows* augmented) {
  if (augmented)
    if (auto it = augmented->find(int64_t(r)); it != augmented->end())
      return {it->second.frames.data(),
              int64_t(it->second.frames.size() / d.store.layout.lld_columns.size())};
  const auto& s = d.store;
  const int64_t t0 = s.frame_offsets[r];
  return {s.frames.data() + size_t(t0) * s.layout.lld_columns.size(),
          s.frame_offsets[r + 1] - t0};
}

BatchWidths batch_widths(const TrainData& d, const std::vector<int64_t>& rows,
                         const AugmentedRows* augmented) {
  const auto& s = d.store;
  BatchWidths w;
  for (int64_t row : rows) {
    const size_t r = size_t(row);
    w.frames = std::max<int64_t>(
        w.frames, std::min<int64_t>(d.transform.max_frames, row_frames(d, r, augmented).second));
    w.tokens = std::max<int64_t>(
        w.tokens,
        std::min<int64_t>(d.transform.max_tokens, s.token_offsets[r + 1] - s.token_offsets[r]));
    w.context = std::max(w.context, context_span(d, r).second);
  }
  return w;
}

/// Row r's speaker statistics in its call under speaker normalisation (null pointers
/// without): the store's (TrainData::speaker), or for an augmented row those over its
/// speaker's segments through the same channel (RowFeatures::speaker), set into `scratch`.
struct RowSpeaker {
  const float* lld_mean = nullptr;
  const float* func_mean = nullptr;
  const float* func_count = nullptr;
};
RowSpeaker row_speaker(const TrainData& d, size_t r, const AugmentedRows* augmented,
                       SpeakerStatistics& scratch) {
  if (!d.transform.per_speaker()) return {};
  const size_t fl = d.store.layout.lld_columns.size();
  const size_t ff = d.store.layout.functional_columns.size();
  if (augmented)
    if (auto it = augmented->find(int64_t(r)); it != augmented->end()) {
      if (!it->second.speaker)
        throw std::logic_error("make_batch: an augmented row of a per-speaker run has no "
                               "speaker sums (features::StoreAugmenter's speaker_channel)");
      scratch.rows = 1;
      scratch.lld_mean.assign(fl, 0.0f);
      scratch.func_mean.assign(ff, 0.0f);
      scratch.func_count.assign(ff, 0.0f);
      scratch.set(0, *it->second.speaker);
      return {scratch.lld_mean.data(), scratch.func_mean.data(), scratch.func_count.data()};
    }
  return {d.speaker.lld_mean.data() + r * fl, d.speaker.func_mean.data() + r * ff,
          d.speaker.func_count.data() + r * ff};
}

/// Row r's frames into `out` ([widths.frames, F], zeros), cut to max_frames and normalised:
/// (x - mean - speaker mean) / std (the speaker mean in its call under speaker
/// normalisation, else 0), where a loudness-normalised run's level columns subtract the
/// segment's own mean over its kept frames instead, and dropped columns (drop_features) are
/// 0. `level_mean` is scratch of F. Returns the frames. An augmented row reads its own frames.
int64_t put_frames(const TrainData& d, size_t r, const RowSpeaker& speaker_means, float* out,
                   std::vector<double>& level_mean, const AugmentedRows* augmented) {
  const InputTransform& t = d.transform;
  const size_t fl = d.store.layout.lld_columns.size();
  const auto [frames, count] = row_frames(d, r, augmented);
  const int64_t t_n = std::min<int64_t>(t.max_frames, count);
  const float* speaker = speaker_means.lld_mean;
  if (t.normalize_loudness && t_n > 0) {
    for (int c : t.level_lld_columns) {
      double sum = 0;
      for (int64_t k = 0; k < t_n; ++k) sum += frames[size_t(k) * fl + size_t(c)];
      level_mean[size_t(c)] = sum / double(t_n);
    }
  }
  for (int64_t k = 0; k < t_n; ++k) {
    const float* src = frames + size_t(k) * fl;
    float* dst = out + size_t(k) * fl;
    if (speaker)
      for (size_t c = 0; c < fl; ++c)
        dst[c] = (src[c] - t.norm.lld_mean[c] - speaker[c]) / t.norm.lld_std[c];
    else
      for (size_t c = 0; c < fl; ++c) dst[c] = (src[c] - t.norm.lld_mean[c]) / t.norm.lld_std[c];
    if (t.normalize_loudness)
      for (int c : t.level_lld_columns)
        dst[c] = float((src[c] - level_mean[size_t(c)]) / t.norm.lld_std[size_t(c)]);
    for (size_t c = 0; c < t.norm.lld_dropped.size(); ++c)  // empty: none dropped
      if (t.norm.lld_dropped[c]) dst[c] = 0.0f;
  }
  return t_n;
}

/// Row r's functionals: clip((v - mean - speaker mean) / std, -10, 10) with mask 1 where
/// defined, not dropped and, under speaker normalisation, defined by at least
/// kSpeakerMinSegments of the speaker's segments in the call; else 0 (the zeros already in
/// `values` and `mask`). An augmented row reads its own functionals.
void put_functionals(const TrainData& d, size_t r, const RowSpeaker& speaker, float* values,
                     float* mask, const AugmentedRows* augmented) {
  const Normalizer& n = d.transform.norm;
  const size_t ff = d.store.layout.functional_columns.size();
  const float* value = d.store.functionals.data() + r * ff;
  const uint8_t* defined = d.store.functional_mask.data() + r * ff;
  if (augmented)
    if (auto it = augmented->find(int64_t(r)); it != augmented->end())
      value = it->second.functionals.data(), defined = it->second.mask.data();
  for (size_t c = 0; c < ff; ++c) {
    if (!defined[c] || n.func_dropped[c]) continue;
    float v = value[c] - n.func_mean[c];
    if (speaker.func_count) {
      if (speaker.func_count[c] < kSpeakerMinSegments) continue;
      v -= speaker.func_mean[c];
    }
    v /= n.func_std[c];
    values[c] = std::clamp(v, -10.0f, 10.0f);
    mask[c] = 1;
  }
}

/// A batch of b rows of these widths, all zero (labels -1).
Batch zero_batch(const TrainData& d, int64_t b, const BatchWidths& w) {
  const int64_t fl = int64_t(d.store.layout.lld_columns.size());
  const int64_t ff = int64_t(d.store.layout.functional_columns.size());
  Batch batch;
  batch.frames = torch::zeros({b, w.frames, fl});
  batch.frame_len = torch::zeros({b}, torch::kLong);
  batch.functionals = torch::zeros({b, ff});
  batch.func_mask = torch::zeros({b, ff});
  batch.tokens = torch::zeros({b, w.tokens}, torch::kLong);
  batch.token_len = torch::zeros({b}, torch::kLong);
  batch.labels = torch::full({b, int64_t(d.task_columns.size())}, -1, torch::kLong);
  batch.ctx_tokens = torch::zeros({b, w.context}, torch::kLong);
  batch.ctx_len = torch::zeros({b}, torch::kLong);
  return batch;
}

/// model.text_encoder: the rows' transcripts as WordPiece ids (transcript_ids).
void put_wordpiece(const TrainData& d, const std::vector<int64_t>& rows, Batch& batch) {
  TranscriptIds t = transcript_ids(d.transform, d.store, d.previous, rows);
  auto tensor = [&](std::vector<int64_t>& v) {
    return torch::from_blob(v.data(), {t.rows, t.width}, torch::kLong).clone();
  };
  batch.text_ids = tensor(t.ids);
  batch.text_type_ids = tensor(t.type_ids);
  batch.text_mask = tensor(t.mask);
}

}  // namespace

Batch make_batch(const TrainData& d, const std::vector<int64_t>& rows,
                 const AugmentedRows* augmented) {
  const InputTransform& t = d.transform;
  const auto& s = d.store;
  if ((t.context_tokens > 0 || !t.wordpiece_sha256.empty()) &&
      d.previous.size() != s.segments.size())
    throw std::logic_error("make_batch: TrainData::previous is not set for this store");
  if (t.per_speaker() && d.speaker.rows != int64_t(s.segments.size()))
    throw std::logic_error("make_batch: TrainData::speaker is not set for this store");
  const int64_t b = int64_t(rows.size());
  const size_t fl = s.layout.lld_columns.size(), ff = s.layout.functional_columns.size();
  const BatchWidths w = batch_widths(d, rows, augmented);
  Batch batch = zero_batch(d, b, w);
  batch.index = rows;
  float* frames = batch.frames.data_ptr<float>();
  float* func = batch.functionals.data_ptr<float>();
  float* mask = batch.func_mask.data_ptr<float>();
  int64_t* tokens = batch.tokens.data_ptr<int64_t>();
  int64_t* ctx = batch.ctx_tokens.data_ptr<int64_t>();
  int64_t* labels = batch.labels.data_ptr<int64_t>();
  auto flen = batch.frame_len.accessor<int64_t, 1>();
  auto tlen = batch.token_len.accessor<int64_t, 1>();
  auto clen = batch.ctx_len.accessor<int64_t, 1>();
  const int64_t tasks = int64_t(d.task_columns.size());
  std::vector<double> level_mean(fl);
  SpeakerStatistics scratch;
  for (int64_t i = 0; i < b; ++i) {
    const size_t r = size_t(rows[size_t(i)]);
    const RowSpeaker speaker = row_speaker(d, r, augmented, scratch);
    flen[i] = put_frames(d, r, speaker, frames + size_t(i * w.frames) * fl, level_mean, augmented);
    put_functionals(d, r, speaker, func + size_t(i) * ff, mask + size_t(i) * ff, augmented);
    const int64_t k0 = s.token_offsets[r];
    const int64_t k_n = std::min<int64_t>(t.max_tokens, s.token_offsets[r + 1] - k0);
    tlen[i] = t.use_text ? k_n : 0;
    for (int64_t k = 0; k < k_n; ++k) tokens[i * w.tokens + k] = s.tokens[size_t(k0 + k)];
    const auto [c0, c_n] = context_span(d, r);
    clen[i] = c_n;
    for (int64_t k = 0; k < c_n; ++k) ctx[i * w.context + k] = s.tokens[size_t(c0 + k)];
    for (int64_t k = 0; k < tasks; ++k)
      labels[i * tasks + k] = s.segments[r].labels[size_t(d.task_columns[size_t(k)])];
  }
  if (!t.wordpiece_sha256.empty()) put_wordpiece(d, rows, batch);
  return batch;
}

}  // namespace tenor::train
