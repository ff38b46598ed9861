#include "train/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>

#include "core/error.h"
#include "core/retired.h"
#include "core/text.h"
#include "data/features/build.h"

namespace tenor::train {
namespace {

/// One config field: how to set it from a YAML scalar and how to print it (`readable`: a
/// number as the shortest text that reads back as the same double, `lr: 0.004`; otherwise as
/// yaml-cpp prints it, 17 digits, the text that config hashes have always covered).
/// A runtime key says where or how to run, not what to compute: the configuration hash leaves it
/// out, so a run resumes under another value of it (docs/training.md, "The run directory").
/// `runtime_since` is the tenor that first left it out of the hash (a RuntimeSince), 0 for a
/// key of the configuration: runs of earlier tenors hashed it.
struct Field {
  std::string key;
  std::function<void(TrainConfig&, const YAML::Node&)> set;
  std::function<YAML::Node(const TrainConfig&, bool readable)> get;
  int runtime_since = 0;
  /// A key tenor no longer reads: why, and what replaced it ("" for a key in use).
  std::string retired;
};

/// The tenors that made keys runtime keys, in order; kNoRuntimeKey hashes none of them.
enum RuntimeSince : int {
  k20261204 = 1,  ///< threads, encoder_cache_gb, distributed.timeout_s
  /// out, features: a run or its store moved elsewhere resumes there; checkpoint_every_steps:
  /// a run on a machine that may be taken away checkpoints more often
  k20261205 = 2,
  kNoRuntimeKey = 3,
};

/// `f` marked as a runtime key since `since`.
Field runtime(Field f, RuntimeSince since) {
  f.runtime_since = since;
  return f;
}

/// A key tenor no longer reads. `false`, the value every run of earlier tenors saved it
/// with, is taken and changes nothing, so that their config.yaml reads and hashes as before
/// (emit_yaml writes the key only where a saved config names it); any other value is refused
/// with `why`.
Field retired(std::string key, std::string why) {
  return {std::move(key), [](TrainConfig&, const YAML::Node&) {},
          [](const TrainConfig&, bool) { return YAML::Node(false); }, 0, std::move(why)};
}

template <class T>
YAML::Node value_node(const T& v, bool readable) {
  if constexpr (std::is_same_v<T, double>)
    if (readable) return YAML::Node(shortest_number(v));
  return YAML::Node(v);
}

template <class T>
Field field(std::string key, T TrainConfig::*member) {
  return {key, [member, key](TrainConfig& c, const YAML::Node& n) { c.*member = n.as<T>(); },
          [member](const TrainConfig& c, bool readable) {
            return value_node(c.*member, readable);
          }};
}

template <class S, class T>
Field nested(std::string key, S TrainConfig::*outer, T S::*member) {
  return {key,
          [outer, member](TrainConfig& c, const YAML::Node& n) { c.*outer.*member = n.as<T>(); },
          [outer, member](const TrainConfig& c, bool readable) {
            return value_node(c.*outer.*member, readable);
          }};
}

/// augment.KEY: a number of the augment block (features::AugmentConfig).
Field augment_field(const std::string& key, double features::AugmentConfig::*member) {
  return nested("augment." + key, &TrainConfig::augment, member);
}

/// The model.* keys, in the order config.yaml lists them.
std::vector<Field> model_fields() {
  return {
      nested("model.type", &TrainConfig::model, &ModelConfig::type),
      nested("model.hidden", &TrainConfig::model, &ModelConfig::hidden),
      nested("model.conv_channels", &TrainConfig::model, &ModelConfig::conv_channels),
      nested("model.gru_layers", &TrainConfig::model, &ModelConfig::gru_layers),
      nested("model.embedding_dim", &TrainConfig::model, &ModelConfig::embedding_dim),
      nested("model.dropout", &TrainConfig::model, &ModelConfig::dropout),
      nested("model.modality_dropout", &TrainConfig::model, &ModelConfig::modality_dropout),
      nested("model.use_prosody", &TrainConfig::model, &ModelConfig::use_prosody),
      nested("model.use_functionals", &TrainConfig::model, &ModelConfig::use_functionals),
      nested("model.use_text", &TrainConfig::model, &ModelConfig::use_text),
      nested("model.agent_prosody", &TrainConfig::model, &ModelConfig::agent_prosody),
      nested("model.max_frames", &TrainConfig::model, &ModelConfig::max_frames),
      nested("model.max_tokens", &TrainConfig::model, &ModelConfig::max_tokens),
      nested("model.hash_buckets", &TrainConfig::model, &ModelConfig::hash_buckets),
      nested("model.ngrams", &TrainConfig::model, &ModelConfig::ngrams),
      nested("model.context_tokens", &TrainConfig::model, &ModelConfig::context_tokens),
      nested("model.word_vectors", &TrainConfig::model, &ModelConfig::word_vectors),
      retired("model.text_embedding",
              std::string(kSentenceEmbeddingsRemoved) + ": delete the key"),
      nested("model.text_encoder", &TrainConfig::model, &ModelConfig::text_encoder),
      nested("model.encoder_trainable_layers", &TrainConfig::model,
             &ModelConfig::encoder_trainable_layers),
      nested("model.members", &TrainConfig::model, &ModelConfig::members),
      nested("model.member_row_share", &TrainConfig::model, &ModelConfig::member_row_share),
  };
}

const std::vector<Field>& fields() {
  static const std::vector<Field> kFields = [] {
    std::vector<Field> top = {
        runtime(field("features", &TrainConfig::features), k20261205),
        runtime(field("out", &TrainConfig::out), k20261205),
        field("tasks", &TrainConfig::tasks),
        field("device", &TrainConfig::device),
        runtime(field("threads", &TrainConfig::threads), k20261204),
        field("seed", &TrainConfig::seed),
        field("epochs", &TrainConfig::epochs),
        field("batch_size", &TrainConfig::batch_size),
        field("loss", &TrainConfig::loss),
        field("focal_gamma", &TrainConfig::focal_gamma),
        field("patience", &TrainConfig::patience),
        field("selection", &TrainConfig::selection),
        field("calibration", &TrainConfig::calibration),
        field("keep_best", &TrainConfig::keep_best),
        runtime(field("checkpoint_every_steps", &TrainConfig::checkpoint_every_steps),
                k20261205),
        field("bf16", &TrainConfig::bf16),
        runtime(field("encoder_cache_gb", &TrainConfig::encoder_cache_gb), k20261204),
        field("normalize_loudness", &TrainConfig::normalize_loudness),
        field("speaker_normalization", &TrainConfig::speaker_normalization),
        field("drop_features", &TrainConfig::drop_features),
        field("speech_encoder", &TrainConfig::speech_encoder),
        field("speech_window", &TrainConfig::speech_window),
    };
    std::vector<Field> model = model_fields();
    top.insert(top.end(), model.begin(), model.end());
    std::vector<Field> rest = {
        nested("optim.lr", &TrainConfig::optim, &OptimConfig::lr),
        nested("optim.weight_decay", &TrainConfig::optim, &OptimConfig::weight_decay),
        nested("optim.warmup_steps", &TrainConfig::optim, &OptimConfig::warmup_steps),
        nested("optim.clip_norm", &TrainConfig::optim, &OptimConfig::clip_norm),
        nested("optim.accumulate", &TrainConfig::optim, &OptimConfig::accumulate),
        nested("optim.ngrams_lr_scale", &TrainConfig::optim, &OptimConfig::ngrams_lr_scale),
        nested("optim.encoder_lr", &TrainConfig::optim, &OptimConfig::encoder_lr),
        nested("optim.layer_decay", &TrainConfig::optim, &OptimConfig::layer_decay),
        nested("optim.encoder_frozen_epochs", &TrainConfig::optim,
               &OptimConfig::encoder_frozen_epochs),
        nested("optim.ema_decay", &TrainConfig::optim, &OptimConfig::ema_decay),
        nested("distributed.bucket_mb", &TrainConfig::distributed, &DistributedConfig::bucket_mb),
        runtime(nested("distributed.timeout_s", &TrainConfig::distributed,
                       &DistributedConfig::timeout_s),
                k20261204),
        augment_field("probability", &features::AugmentConfig::probability),
        nested("augment.copies", &TrainConfig::augment, &features::AugmentConfig::copies),
        augment_field("speed_probability", &features::AugmentConfig::speed_probability),
        augment_field("speed_min", &features::AugmentConfig::speed_min),
        augment_field("speed_max", &features::AugmentConfig::speed_max),
        augment_field("reverb_probability", &features::AugmentConfig::reverb_probability),
        augment_field("reverb_rt60_s_min", &features::AugmentConfig::reverb_rt60_s_min),
        augment_field("reverb_rt60_s_max", &features::AugmentConfig::reverb_rt60_s_max),
        augment_field("noise_probability", &features::AugmentConfig::noise_probability),
        augment_field("noise_snr_db_min", &features::AugmentConfig::noise_snr_db_min),
        augment_field("noise_snr_db_max", &features::AugmentConfig::noise_snr_db_max),
        augment_field("noise_data_share", &features::AugmentConfig::noise_data_share),
        nested("augment.noise_reference", &TrainConfig::augment,
               &features::AugmentConfig::noise_reference),
        augment_field("agc_probability", &features::AugmentConfig::agc_probability),
        augment_field("agc_target_db_min", &features::AugmentConfig::agc_target_db_min),
        augment_field("agc_target_db_max", &features::AugmentConfig::agc_target_db_max),
        augment_field("agc_ratio_min", &features::AugmentConfig::agc_ratio_min),
        augment_field("agc_ratio_max", &features::AugmentConfig::agc_ratio_max),
        augment_field("telephone_probability", &features::AugmentConfig::telephone_probability),
        augment_field("telephone_alaw_share", &features::AugmentConfig::telephone_alaw_share),
        augment_field("gain_probability", &features::AugmentConfig::gain_probability),
        augment_field("gain_db_min", &features::AugmentConfig::gain_db_min),
        augment_field("gain_db_max", &features::AugmentConfig::gain_db_max),
        augment_field("consistency", &features::AugmentConfig::consistency),
    };
    top.insert(top.end(), rest.begin(), rest.end());
    return top;
  }();
  return kFields;
}

const Field* find(const std::string& key) {
  for (const auto& f : fields())
    if (f.key == key) return &f;
  return nullptr;
}

std::string unknown_key(const std::string& key, const std::string& where) {
  // A section (`--set model=5`): its keys are set one by one.
  std::vector<std::string> inside;
  for (const auto& k : config_keys())
    if (k.starts_with(key + ".")) inside.push_back(k);
  if (!inside.empty())
    return where + "'" + key + "' is a section of the config, not a key; set its keys one by " +
           "one, e.g. " + inside.front() + " (`tenor train --dump-config` shows its " +
           std::to_string(inside.size()) + " keys)";
  std::string near = nearest(key, config_keys());
  // A typo in the last part only ("optim.lrr") is matched against the full keys too.
  return where + "unknown config key '" + key + "'" +
         (near.empty() ? "; see `tenor train --dump-config` for every key"
                       : "; did you mean '" + near + "'?");
}

void set_key(TrainConfig& c, const std::string& key, const YAML::Node& value,
             const std::string& where) {
  const Field* f = find(key);
  if (!f) throw ConfigError(unknown_key(key, where));
  auto holds = [&] {
    const YAML::Node like = f->get(TrainConfig{}, true);
    if (like.IsSequence()) return std::string("a list, such as [a, b] or []");
    std::ostringstream d;
    d << like;
    return "values like '" + d.str() + "'";
  };
  // `key:` or `--set key=` with nothing after it is YAML's null, which would read as the
  // string "null" (a run directory named null) or fail as a number.
  if (!value.IsDefined() || value.IsNull())
    throw ConfigError(where + "config key '" + key + "' is given no value; it holds " + holds() +
                      " (write \"\" for an empty string)");
  if (!f->retired.empty()) {
    bool on = true;
    try {
      on = value.as<bool>();
    } catch (const YAML::Exception&) {
    }
    if (on) throw ConfigError(where + "config key '" + key + "' is no longer read: " + f->retired);
    return;
  }
  try {
    f->set(c, value);
  } catch (const YAML::Exception&) {
    std::ostringstream v;
    v << value;
    throw ConfigError(where + "config key '" + key + "' cannot take the value '" +
                      printable(v.str()) + "'; it holds " + holds());
  }
}

/// Sets the keys of `node` (under `prefix`) in `c`; each key set goes to *named when given.
void walk(TrainConfig& c, const YAML::Node& node, const std::string& prefix,
          const std::string& source, std::set<std::string>* named = nullptr) {
  std::map<std::string, int> seen;  // key -> its line: YAML parsers keep one of two silently
  for (const auto& kv : node) {
    const std::string key = prefix + kv.first.as<std::string>();
    const int line = kv.first.Mark().line + 1;
    const std::string where = source + ":" + std::to_string(line) + ": ";
    if (auto [it, fresh] = seen.emplace(key, line); !fresh)
      throw ConfigError(where + "config key '" + key + "' appears again (first at line " +
                        std::to_string(it->second) + "); keep one of the two");
    if (kv.second.IsMap()) {
      bool is_group = false;
      for (const auto& f : fields()) is_group |= f.key.rfind(key + ".", 0) == 0;
      if (!is_group) throw ConfigError(unknown_key(key, where));
      walk(c, kv.second, key + ".", source, named);
    } else {
      set_key(c, key, kv.second, where);
      if (named) named->insert(key);
    }
  }
}

/// A config value as a message shows it: 0.5, not std::to_string's 0.500000.
template <typename T>
std::string shown(T value) {
  if constexpr (std::is_integral_v<T>) return std::to_string(value);
  else return format_number(value);
}

void check(bool ok, const std::string& key, const std::string& value,
           const std::string& expectation) {
  if (!ok) throw ConfigError("config key '" + key + "' is " + value + "; " + expectation);
}

/// The model.* keys of TrainConfig::validate.
void check_model(const ModelConfig& model) {
  check(model.type == "fusion" || model.type == "linear", "model.type", model.type,
        "use fusion or linear");
  check(model.hidden >= 1 && model.hidden <= 4096, "model.hidden", shown(model.hidden),
        "use 1..4096");
  check(model.dropout >= 0 && model.dropout < 1, "model.dropout", shown(model.dropout),
        "use 0 <= p < 1");
  check(model.modality_dropout >= 0 && model.modality_dropout < 1, "model.modality_dropout",
        shown(model.modality_dropout), "use 0 <= p < 1");
  check(model.use_prosody || model.use_functionals || model.use_text, "model.use_*", "all false",
        "enable at least one modality");
  check(model.max_frames >= 1 && model.max_tokens >= 1, "model.max_frames/max_tokens", "below 1",
        "use at least 1");
  check(model.context_tokens >= 0 && model.context_tokens <= 4096, "model.context_tokens",
        shown(model.context_tokens), "use 0 (no context) .. 4096");
  check(model.word_vectors.empty() || (model.type == "fusion" && model.use_text),
        "model.word_vectors", model.word_vectors,
        "word vectors start the fusion model's text encoder: set model.type fusion and "
        "model.use_text true, or leave model.word_vectors empty");
  check(model.text_encoder.empty() || (model.type == "fusion" && model.use_text),
        "model.text_encoder", model.text_encoder,
        "a pretrained encoder is the fusion model's text path: set model.type fusion and "
        "model.use_text true, or leave model.text_encoder empty");
  check(model.text_encoder.empty() || model.word_vectors.empty(), "model.word_vectors",
        model.word_vectors,
        "word vectors start the GRU text encoder, which model.text_encoder replaces: leave one "
        "of the two empty");
  check(model.encoder_trainable_layers >= -1, "model.encoder_trainable_layers",
        shown(model.encoder_trainable_layers),
        "use -1 (every block and the embeddings), 0 (frozen) or a number of top blocks");
  check(model.members >= 1 && model.members <= 32, "model.members",
        shown(model.members), "use 1 (one model) .. 32");
  check(model.members == 1 || model.type == "fusion", "model.members",
        shown(model.members),
        "an ensemble is made of fusion models (a linear model trains to the same optimum from "
        "any start): set model.type fusion or model.members 1");
  check(model.members == 1 || model.text_encoder.empty(), "model.members",
        shown(model.members),
        "an ensemble would fine-tune one copy of the pretrained encoder per member: set "
        "model.members 1 with model.text_encoder, or leave model.text_encoder empty");
  check(model.member_row_share > 0 && model.member_row_share <= 1, "model.member_row_share",
        shown(model.member_row_share), "use a share in (0, 1] (1: every row)");
  check(model.member_row_share == 1 || model.members > 1, "model.member_row_share",
        shown(model.member_row_share),
        "it draws the rows of each member of an ensemble: set model.members above 1, or "
        "model.member_row_share 1");
  check(model.hash_buckets >= 16, "model.hash_buckets", shown(model.hash_buckets),
        "use at least 16");
}

/// The optim.* keys of TrainConfig::validate.
void check_optim(const OptimConfig& optim) {
  check(optim.encoder_lr > 0 && optim.encoder_lr < 10, "optim.encoder_lr",
        shown(optim.encoder_lr), "use a value in (0, 10)");
  check(optim.layer_decay > 0 && optim.layer_decay <= 1, "optim.layer_decay",
        shown(optim.layer_decay), "use a value in (0, 1]");
  check(optim.encoder_frozen_epochs >= 0, "optim.encoder_frozen_epochs",
        shown(optim.encoder_frozen_epochs), "use a value >= 0");
  check(optim.ema_decay >= 0 && optim.ema_decay < 1, "optim.ema_decay",
        shown(optim.ema_decay), "use a value in [0, 1) (0: off; 0.9-0.999 are usual)");
  check(optim.lr > 0 && optim.lr < 10, "optim.lr", shown(optim.lr),
        "use a value in (0, 10)");
  check(optim.weight_decay >= 0, "optim.weight_decay", shown(optim.weight_decay),
        "use a value >= 0");
  check(optim.warmup_steps >= 0, "optim.warmup_steps", shown(optim.warmup_steps),
        "use a value >= 0");
  check(optim.clip_norm >= 0, "optim.clip_norm", shown(optim.clip_norm),
        "use a value >= 0 (0: off)");
  check(optim.ngrams_lr_scale > 0 && optim.ngrams_lr_scale <= 100, "optim.ngrams_lr_scale",
        shown(optim.ngrams_lr_scale), "use a value in (0, 100]");
  check(optim.accumulate >= 1, "optim.accumulate", shown(optim.accumulate),
        "use at least 1");
}

}  // namespace

void TrainConfig::validate() const {
  check(!features.empty(), "features", "empty", "set it to a feature store (tenor data build)");
  check(!out.empty(), "out", "empty", "set it to a run directory");
  check(threads >= 0 && threads <= 4096, "threads", shown(threads),
        "use 0 (LibTorch's default: one per core) or a number of threads up to 4096");
  check(epochs >= 1, "epochs", shown(epochs), "use at least 1");
  check(batch_size >= 1, "batch_size", shown(batch_size), "use at least 1");
  check(loss == "ce" || loss == "balanced" || loss == "focal", "loss", loss,
        "use ce, balanced or focal");
  check(speaker_normalization == "none" || speaker_normalization == "call",
        "speaker_normalization", speaker_normalization,
        "use none, or call (each speaker's features centred on that speaker in the call)");
  check(selection == "clean" || selection == "worst" || selection == "mean", "selection",
        selection,
        "use clean, worst or mean (the worst or mean score over the clean dev split and its "
        "degraded copies)");
  check(calibration == "clean" || calibration == "degraded", "calibration", calibration,
        "use clean (the dev split) or degraded (the dev split and its degraded copies)");
  check(speech_window.empty() || features::is_speech_window(speech_window), "speech_window",
        speech_window,
        "use padded (each window padded to Whisper's 30 s), clip (each clip alone) or \"\" "
        "(either), as the store was built (tenor data build --speech-window)");
  check(focal_gamma >= 0, "focal_gamma", shown(focal_gamma), "use a value >= 0");
  check(patience >= 1, "patience", shown(patience), "use at least 1");
  check(keep_best >= 1, "keep_best", shown(keep_best), "use at least 1");
  check(checkpoint_every_steps >= 1, "checkpoint_every_steps",
        shown(checkpoint_every_steps), "use at least 1");
  check(encoder_cache_gb >= 0 && encoder_cache_gb <= 1e6, "encoder_cache_gb",
        shown(encoder_cache_gb),
        "use a size in GB from 0 (keep nothing: every epoch computes the frozen layers "
        "again) to 1000000");
  check_model(model);
  check_optim(optim);
  check(distributed.bucket_mb > 0 && distributed.bucket_mb <= 4096, "distributed.bucket_mb",
        shown(distributed.bucket_mb), "use a size in (0, 4096] MB");
  check(distributed.timeout_s >= 1, "distributed.timeout_s", shown(distributed.timeout_s),
        "use at least 1 second");
  augment.validate("augment.");
}

namespace {

void apply_yaml(TrainConfig& config, const std::string& yaml, const std::string& source,
                std::set<std::string>* named) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) +
                      ": not valid YAML: " + e.msg);
  }
  if (root.IsNull()) return;
  if (!root.IsMap()) throw ConfigError(source + ": a config must be a mapping of keys to values");
  walk(config, root, "", source, named);
}

}  // namespace

void apply_yaml_text(TrainConfig& config, const std::string& yaml, const std::string& source) {
  apply_yaml(config, yaml, source, nullptr);
}

void apply_yaml_file(TrainConfig& config, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read config file " + path);
  std::stringstream text;
  text << in.rdbuf();
  apply_yaml_text(config, text.str(), path);
}

namespace {

/// A flow list as written on the command line ("[*_cv, logmel_*]") with every item quoted
/// (["*_cv", "logmel_*"]), as YAML reads items that start with an indicator.
std::string quoted_list(const std::string& list) {
  std::string inner = list.substr(1);
  if (!inner.empty() && inner.back() == ']') inner.pop_back();
  std::string out;
  std::stringstream items(inner);
  for (std::string item; std::getline(items, item, ',');) {
    const auto a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \t");
    item = a == std::string::npos ? "" : item.substr(a, b - a + 1);
    // Double quotes, also for an item in single ones, which would end the shell's quoting.
    if (item.size() >= 2 && (item.front() == '"' || item.front() == '\'') &&
        item.back() == item.front())
      item = item.substr(1, item.size() - 2);
    item = '"' + item + '"';
    out += (out.empty() ? "" : ", ") + item;
  }
  return "[" + out + "]";
}

}  // namespace

void apply_override(TrainConfig& config, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set takes key=value, got '" + printable(assignment) + "'");
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    // A list or map that YAML cannot read would otherwise arrive as one odd string; a plain
    // value that is not YAML (`*_cv`) is taken as the string it is.
    const auto first = text.find_first_not_of(" \t");
    if (first != std::string::npos && text[first] == '{')
      throw ConfigError("--set " + key + ": '" + printable(text) + "' is not a YAML map (" +
                        e.msg + ")");
    if (first != std::string::npos && text[first] == '[')
      throw ConfigError("--set " + key + ": '" + printable(text) + "' is not a YAML list (" +
                        e.msg + "); quote each item that starts with * & ! | > % @ or ` and " +
                        "the whole assignment for the shell: --set '" + key + "=" +
                        quoted_list(text.substr(first)) + "'");
    value = YAML::Node(text);
  }
  set_key(config, key, value, "--set: ");
}

namespace {

/// The config as YAML, every key or (`only`) those named there; of the runtime keys, those
/// made runtime keys by tenor `hashed_by` or later (hashed_by k20261204: all of them, as
/// to_yaml writes; kNoRuntimeKey: none, as the configuration hash covers).
std::string emit_yaml(const TrainConfig& config, bool readable, int hashed_by,
                      const std::set<std::string>* only = nullptr) {
  YAML::Node root;
  for (const auto& f : fields()) {
    if ((only && !only->count(f.key)) || (f.runtime_since && f.runtime_since < hashed_by) ||
        (!f.retired.empty() && !only))
      continue;
    YAML::Node node = root;
    std::string key = f.key;
    auto dot = key.find('.');
    if (dot == std::string::npos) {
      root[key] = f.get(config, readable);
    } else {
      root[key.substr(0, dot)][key.substr(dot + 1)] = f.get(config, readable);
    }
  }
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

}  // namespace

std::string to_yaml(const TrainConfig& config) { return emit_yaml(config, true, k20261204); }

std::string config_identity(const TrainConfig& config) {
  return emit_yaml(config, false, kNoRuntimeKey);
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const auto& f : fields())
    if (f.retired.empty()) keys.push_back(f.key);
  return keys;
}

SavedConfig read_saved_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read the run's saved config " + path);
  std::stringstream text;
  text << in.rdbuf();
  SavedConfig saved;
  std::set<std::string> named;
  apply_yaml(saved.config, text.str(), path, &named);
  // Today's hash, then those of earlier tenors, newest first: on 2026-12-04 `features`, `out`
  // and `checkpoint_every_steps` were still hashed, before it every runtime key was.
  for (int hashed_by : {int(kNoRuntimeKey), int(k20261205), int(k20261204)}) {
    std::string identity = emit_yaml(saved.config, false, hashed_by, &named);
    if (std::find(saved.identities_then.begin(), saved.identities_then.end(), identity) ==
        saved.identities_then.end())
      saved.identities_then.push_back(std::move(identity));
  }
  return saved;
}

std::vector<std::string> differing_keys(const TrainConfig& a, const TrainConfig& b,
                                        const std::string& here, const std::string& there,
                                        bool runtime_keys) {
  auto text = [](const YAML::Node& n) {
    YAML::Emitter out;
    out << YAML::Flow << n;
    return std::string(out.c_str());
  };
  std::vector<std::string> keys;
  for (const auto& f : fields()) {
    if ((f.runtime_since != 0) != runtime_keys || !f.retired.empty()) continue;
    const std::string va = text(f.get(a, true)), vb = text(f.get(b, true));
    if (va != vb) keys.push_back(f.key + " (" + va + " " + here + ", " + vb + " " + there + ")");
  }
  return keys;
}

}  // namespace tenor::train
