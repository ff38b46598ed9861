#pragma once
// Training configuration: typed structs with defaults, read from YAML files
// (repeatable) and `--set key=value` overrides, in that order. Every key is the
// dotted path of a field (`optim.lr`); unknown keys are errors naming the nearest
// valid key. The resolved config is saved in every run directory.

#include <cstdint>
#include <string>
#include <vector>

#include "data/features/augment_config.h"

namespace tenor::train {

struct ModelConfig {
  std::string type = "fusion";  ///< fusion (prosody + functionals + text) | linear (baseline)
  int hidden = 64;              ///< width of every encoder's output
  int conv_channels = 64;       ///< prosody conv front
  int gru_layers = 1;
  int embedding_dim = 64;  ///< token embedding
  double dropout = 0.2;
  double modality_dropout = 0.2;  ///< training-time chance to hide one available modality
  bool use_prosody = true;        ///< frame LLD sequences
  bool use_functionals = true;    ///< segment functionals
  bool use_text = true;           ///< token ids
  /// Compliance (EU AI Act art. 5(1)(f)): tasks on the agent role use text only
  /// unless this is set explicitly.
  bool agent_prosody = false;
  int max_frames = 1500;  ///< longer segments are cut (15 s at 10 ms)
  int max_tokens = 128;
  int hash_buckets = 16384;  ///< hashed token uni- and bigrams (linear baseline, fusion ngrams)
  /// Fusion: a bag of hashed token uni- and bigrams beside the text encoder, fed to every
  /// text task's head ("wide and deep"), so the model contains the baseline's text path.
  bool ngrams = true;
  /// Fusion: the first N tokens of the segment before each one in its call (any speaker:
  /// the customer's post an agent answers, the turn a customer reacts to) are read by the
  /// same text encoder and condition text tasks. 0: no context.
  int context_tokens = 0;
  /// Fusion: pretrained word vectors (GloVe text format, or word2vec's text format) that the
  /// token embeddings of whole-word pieces start from; model.embedding_dim must equal their
  /// dimension. "": random start. docs/training.md says where to get GloVe's.
  std::string word_vectors;
  /// Fusion: a pretrained BERT-family encoder fine-tuned as the text path (instead of the
  /// GRU over the store's SentencePiece tokens): a name tools/text-encoders/fetch.sh knows
  /// (minilm-l6, mpnet-base) or a directory with config.json, tokenizer.json and
  /// model.safetensors of a BERT or MPNet encoder.
  /// It reads each segment's transcript (the store keeps it), with the previous segment as
  /// the second sentence when context_tokens > 0, at most max_tokens pieces in all.
  std::string text_encoder;
  /// model.text_encoder: how many of its top blocks train (-1: every block and the
  /// embeddings; 0: none, a frozen feature extractor).
  int encoder_trainable_layers = -1;
  /// Fusion: a deep ensemble of this many fusion models, each from its own random start,
  /// trained together on the same batches, scored and exported as the mean of their logits
  /// (train/model.h EnsembleModel). 1: one model.
  int members = 1;
  /// model.members > 1: the share of the training rows each member learns from in an epoch,
  /// drawn per member, epoch and row (online subsampling, after bagging: members then differ
  /// in their data too, not only in their start). 1: every member learns from every row.
  double member_row_share = 1.0;
};

struct OptimConfig {
  double lr = 2e-3;
  double weight_decay = 0.01;  ///< AdamW
  int warmup_steps = 20;       ///< linear warmup, then cosine decay to 0 at the last step
  double clip_norm = 1.0;      ///< gradient clipping (0: off)
  int accumulate = 1;          ///< batches per optimizer step
  /// Fusion: the n-gram bag (ngrams.weight) learns at lr times this. A sparse, wide table
  /// fits best at the higher rate the linear baseline uses, the encoders at lr.
  double ngrams_lr_scale = 1.0;
  /// model.text_encoder: the peak rate of its top block (pretrained weights want a far
  /// lower rate than the layers trained from scratch, which take `lr`).
  double encoder_lr = 5e-5;
  /// model.text_encoder: layer-wise decay; block i of n learns at encoder_lr *
  /// layer_decay^(n - 1 - i), the embeddings at encoder_lr * layer_decay^n. 1: one rate.
  double layer_decay = 1.0;
  /// model.text_encoder: epochs at the start in which the encoder stays frozen and only the
  /// layers above it train (then it unfreezes as encoder_trainable_layers says).
  int encoder_frozen_epochs = 0;
  /// An exponential moving average of the weights (train/weight_average.h), updated after
  /// every optimizer step with this decay; the dev split scores it and best.pt holds it.
  /// 0: off (the dev split scores the weights as the last step left them).
  double ema_decay = 0;
};

/// Tuning of multi-process training. The topology (rank, world size, rendezvous address)
/// comes from the launcher's environment, like torchrun's, never from the config.
struct DistributedConfig {
  double bucket_mb = 25;  ///< gradient all-reduce bucket size (PyTorch DDP's default)
  int timeout_s = 1800;   ///< rendezvous and per-collective timeout
};

struct TrainConfig {
  std::string features;            ///< the HDF5 feature store (tenor data build)
  std::string out = "runs/run";    ///< run directory
  std::vector<std::string> tasks;  ///< tasks to train (empty: every task in the store)
  std::string device = "auto";     ///< auto | cpu | cuda | cuda:N
  int threads = 0;                 ///< LibTorch CPU threads (0: its default)
  uint64_t seed = 1;
  int epochs = 20;
  int batch_size = 32;
  std::string loss = "balanced";  ///< ce | balanced (inverse class frequency) | focal
  double focal_gamma = 2.0;
  int patience = 5;                 ///< early stopping on the selection score (epochs without gain)
  /// What chooses best.pt and early stopping: clean (dev macro-F1, the mean over tasks) |
  /// worst | mean (of that score on the clean dev split and on one degraded copy of it per
  /// op the augment block enables, made once at the start from `seed`; docs/training.md).
  std::string selection = "clean";
  /// What the decision rules (temperature, threshold; RUN/calibration.json) are fitted on when
  /// training ends: clean (the dev split) | degraded (the dev split pooled with the degraded
  /// copies `selection` scores, one per op the augment block enables; docs/training.md).
  std::string calibration = "clean";
  int keep_best = 2;                ///< best-k checkpoints kept besides last
  int checkpoint_every_steps = 50;  ///< also at every epoch end; a runtime key
  bool bf16 = true;                 ///< bf16 autocast on CUDA (ignored on CPU)
  /// model.text_encoder: at most this many GB of a frozen encoder's vectors and of a frozen
  /// bottom's hidden states are kept while training (BertEncoderImpl::keep_frozen_vectors);
  /// rows beyond it are computed again each time they are read, to the same numbers.
  double encoder_cache_gb = 4;
  /// Per-utterance loudness normalisation: remove each segment's mean level from the
  /// level-dependent LLDs and drop absolute-level functionals (a model then cannot
  /// learn "loud = angry", which fails under automatic gain control).
  bool normalize_loudness = false;
  /// none | call: centre each segment's frame LLDs and functionals on its speaker's mean over
  /// the speaker's own segments in the same call (train/input_transform.h), so that a
  /// speaker's pitch, level and channel are read relative to that speaker in that call.
  std::string speaker_normalization = "none";
  /// Feature columns the model does not read, as glob patterns (`logmel_*`) over the store's
  /// frame LLD and functional column names: a dropped frame column reads 0 after
  /// normalisation, a dropped functional is masked. Each pattern must match a column.
  std::vector<std::string> drop_features;
  /// The speech encoder whose states the store must hold (`tenor data build --speech-encoder
  /// NAME`: a known name or a directory of its weights): a store built without them, or with
  /// another encoder's, is refused before training with the build command (check_store_for_config).
  /// "" (the default): any store.
  std::string speech_encoder;
  /// With speech_encoder: the window its states must have been computed in (`tenor data build
  /// --speech-window`: padded or clip); a store of the other window is refused before training
  /// with the build command. "" (the default): either. Without speech_encoder it asks nothing.
  std::string speech_window;
  ModelConfig model;
  OptimConfig optim;
  DistributedConfig distributed;
  /// Waveform augmentation of training rows (off unless augment.probability > 0): the
  /// store's audio read again, augmented and re-extracted (docs/training.md).
  features::AugmentConfig augment;

  void validate() const;  ///< throws ConfigError naming the key, the value and the range
};

/// Applies a YAML file's keys to `config`; throws ConfigError (file, line, key, nearest key).
void apply_yaml_file(TrainConfig& config, const std::string& path);
/// Applies YAML text (for tests and embedded configs).
void apply_yaml_text(TrainConfig& config, const std::string& yaml, const std::string& source);
/// Applies one `key=value` override.
void apply_override(TrainConfig& config, const std::string& assignment);
/// The resolved config as YAML (every key, nested; numbers at the fewest digits that read back
/// exactly: `lr: 0.004`): RUN/config.yaml and `tenor train --dump-config`.
std::string to_yaml(const TrainConfig& config);
/// The text a run's config hash (run.json, checkpoints) covers: the same YAML with numbers at
/// 17 digits, as every tenor has written it, so runs of older versions still resume; without
/// the runtime keys (`features`, `out`, `threads`, `checkpoint_every_steps`, `encoder_cache_gb`,
/// `distributed.timeout_s`: where and how to run, not what to compute; the store is checked by
/// its content instead), so a run resumes under other values of them, moved to another
/// directory included.
std::string config_identity(const TrainConfig& config);
/// Every valid dotted key.
std::vector<std::string> config_keys();

/// A run's saved config.yaml read by this version: `config` holds its values and, for the
/// keys it does not name (added to tenor since it was written), the defaults;
/// `identities_then` are the texts the tenor that wrote it, which knew only the keys it
/// names, may have hashed, newest first: the config_identity of those keys alone, in their
/// order; (when it names runtime keys) the same with `features`, `out` and
/// `checkpoint_every_steps`, as tenors of 2026-12-04 hashed; and with every runtime key, as
/// tenors before 2026-12-04 hashed. Throws
/// ConfigError naming the file and line where it cannot be read.
struct SavedConfig {
  TrainConfig config;
  std::vector<std::string> identities_then;
};
SavedConfig read_saved_config(const std::string& path);

/// The keys whose values differ between `a` and `b`, each as "key (A here, B there)" with
/// the values as config.yaml prints them: the keys of the configuration, or with
/// `runtime_keys` the runtime keys alone.
std::vector<std::string> differing_keys(const TrainConfig& a, const TrainConfig& b,
                                        const std::string& here, const std::string& there,
                                        bool runtime_keys = false);

}  // namespace tenor::train
