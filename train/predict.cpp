#include "train/predict.h"

#include <torch/torch.h>

#include <algorithm>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "data/features/columns.h"
#include "data/features/device.h"
#include "data/features/speech_encoder.h"
#include "train/checkpoint.h"
#include "train/run_dir.h"
#include "train/run_format.h"

namespace tenor::train {
namespace fs = std::filesystem;
using nlohmann::json;

json shape_to_json(const ModelShape& s) {
  json tasks = json::array();
  for (const auto& t : s.tasks) {
    tasks.push_back({{"name", t.name},
                     {"type", data::to_string(t.type)},
                     {"num_classes", t.num_classes},
                     {"classes", t.classes},
                     {"speaker", t.speaker},
                     {"prosody", t.prosody},
                     {"functionals", t.functionals},
                     {"text", t.text}});
  }
  return {{"lld_features", s.lld_features},
          {"functional_features", s.functional_features},
          {"vocab_size", s.vocab_size},
          {"transformer", s.transformer ? s.transformer->to_json() : json()},
          {"tasks", tasks}};
}

ModelShape shape_from_json(const json& j, const std::string& source) {
  ModelShape s;
  s.lld_features = j.at("lld_features");
  s.functional_features = j.at("functional_features");
  s.vocab_size = j.at("vocab_size");
  // `text_embedding_dim` of shapes written before 2026-12-06 is not read: a run that used
  // sentence embeddings is refused by read_run_docs, a bundle by its input transform.
  if (const auto it = j.find("transformer"); it != j.end() && !it->is_null())
    s.transformer = BertConfig::from_json(*it, source);
  for (const auto& t : j.at("tasks")) {
    TaskSpec spec;
    spec.name = t.at("name");
    const json& type = t.at("type");
    spec.type = data::task_type_from_string(
        type.is_string() ? type.get<std::string>() : type.dump(),
        source + ", task '" + spec.name + "'");
    spec.num_classes = t.at("num_classes");
    // Absent in runs from before class names were recorded: matched by count only.
    spec.classes = t.value("classes", std::vector<std::string>{});
    spec.speaker = t.at("speaker");
    spec.prosody = t.at("prosody");
    spec.functionals = t.at("functionals");
    spec.text = t.at("text");
    s.tasks.push_back(spec);
  }
  return s;
}

RunInfo read_run(const fs::path& dir) {
  RunDocs docs = read_run_docs(dir);  // upgraded to the current run format
  RunInfo run;
  run.dir = dir;
  apply_yaml_text(run.config, docs.config_yaml, (dir / "config.yaml").string());
  run.config.features = run_store_path(dir, run.config);
  run.transform = InputTransform::from_json(docs.input_transform,
                                            (dir / "input_transform.json").string());
  run.shape = shape_from_json(docs.shape, (dir / "shape.json").string());
  run.result = std::move(docs.result);
  attach_wordpiece(run.transform, dir / kRunTextEncoderDir / "tokenizer.json");
  return run;
}

const std::string& run_store(const RunInfo& run) {
  std::error_code ec;
  if (!fs::is_regular_file(run.config.features, ec))
    throw DataError("run " + run.dir.string() + " reads its extractor settings, tokenizer, "
                    "channels and dev split from the feature store it was trained on, " +
                    run.config.features + " (its config.yaml's `features`), which is not "
                    "there from " + fs::current_path(ec).string() +
                    "; run this from the directory training ran in, or put that store back");
  return run.config.features;
}

LoadedRun load_run(const fs::path& dir, const std::string& device, const std::string& checkpoint) {
  LoadedRun run;
  run.info = read_run(dir);
  run.device = features::resolve_device(device);
  run.model = make_model(run.info.shape, run.info.config.model);
  check_transform_fits_model(run.info.transform, (dir / "input_transform.json").string(),
                             run.model->context_tokens());
  load_checkpoint(dir / checkpoint, *run.model, nullptr, /*restore_rng=*/false);
  run.model->to(run.device);
  run.model->eval();
  return run;
}

StoreContract store_contract(const RunInfo& run) {
  StoreContract c{"run " + run.dir.string(), run.shape, run.result.at("tokenizer_sha256"),
                  run.result.at("feature_set_version"), run.result.at("functionals_version"),
                  {}};
  // The states the run was trained on: result.json's record, else (a run of a tenor before
  // it) its store's; a run of then without its store leaves them unchecked.
  if (const auto it = run.result.find("speech_encoder"); it != run.result.end()) {
    c.speech = features::speech_record_from(*it);
    return c;
  }
  std::error_code ec;
  if (fs::is_regular_file(run.config.features, ec)) {
    try {
      c.speech = features::speech_record(features::read_store_meta(run.config.features)
                                             .extractor_config);
    } catch (const Error&) {  // an unreadable store: unchecked, as a missing one
    }
  }
  return c;
}

namespace {

std::string listed(const std::vector<std::string>& names) { return "[" + join(names, ", ") + "]"; }

/// Matches one task's classes by name; re-indexes the store's labels when only the order
/// differs.
void match_classes(features::Store& store, const std::string& name, const StoreContract& m,
                   const TaskSpec& task, size_t column) {
  std::vector<std::string>& have = store.task_classes[task.name];
  if (task.classes.empty()) {  // a run from before class names were recorded
    if (int(have.size()) != task.num_classes)
      throw DataError(name + ": task '" + task.name + "' has " + std::to_string(have.size()) +
                      " classes " + listed(have) + ", " + m.model + " has " +
                      std::to_string(task.num_classes) +
                      "; the label schemas differ: use a store of the run's dataset");
    logger("train")->warn(
        "{} records no class names (written before tenor recorded them): task '{}' takes "
        "{}'s classes {} by position",
        m.model, task.name, name, listed(have));
    return;
  }
  if (have == task.classes) return;
  std::vector<int32_t> to_model(have.size(), -1);
  for (size_t i = 0; i < have.size(); ++i) {
    auto it = std::find(task.classes.begin(), task.classes.end(), have[i]);
    if (it != task.classes.end()) to_model[i] = int32_t(it - task.classes.begin());
  }
  const bool same_set = have.size() == task.classes.size() &&
                        std::set<std::string>(have.begin(), have.end()).size() == have.size() &&
                        std::find(to_model.begin(), to_model.end(), -1) == to_model.end();
  if (!same_set)
    throw DataError(name + ": task '" + task.name + "' has classes " + listed(have) + ", but " +
                    m.model + " was trained on " + listed(task.classes) +
                    "; the label schemas differ, so its predictions cannot be scored against "
                    "these labels: use a store built from a dataset with the model's classes");
  for (auto& s : store.segments) {
    int32_t& y = s.labels[column];
    if (y >= 0 && size_t(y) < to_model.size()) y = to_model[size_t(y)];
  }
  logger("train")->info("task '{}': {} lists the classes as {}, {} as {}; matched by name",
                        task.name, name, listed(have), m.model, listed(task.classes));
  have = task.classes;
}

/// When a store and a model differ by speech-encoder columns, which build option makes them.
std::string speech_hint(const features::Store& store, const StoreContract& m) {
  const int64_t speech = features::speech_width(store);
  if (speech > 0)
    return " (" + std::to_string(speech) + " of this store's functionals are a speech "
           "encoder's, speech_*: build it without --speech-encoder for a model trained without)";
  if (m.shape.functional_features <= int(store.layout.functional_columns.size())) return "";
  if (!m.speech.name.empty())
    return " (" + m.model + " reads the states of the speech encoder " + m.speech.name +
           ", speech_*: build this store with them, " +
           speech_build_command(store, "STORE", m.speech) + ")";
  return " (a model trained on a store built with --speech-encoder reads its speech_* "
         "columns: build this one the same way, `tenor data build DATASET --out STORE "
         "--speech-encoder ENCODER` with the encoder its training store was built with; known: " +
         join(features::known_speech_encoders(), ", ") + ")";
}

/// A store whose speech states are another encoder's or of another window than the model's.
void check_speech_states(const features::Store& store, const std::string& name,
                         const StoreContract& m) {
  if (m.speech.sha256.empty()) return;
  const features::SpeechRecord have = features::speech_record(store.meta.extractor_config);
  if (have.sha256.empty() || (have.sha256 == m.speech.sha256 && have.window == m.speech.window))
    return;
  auto said = [](const features::SpeechRecord& s) {
    return s.name + " (SHA-256 " + s.sha256.substr(0, 12) + ", window " + s.window + ")";
  };
  throw DataError(name + " holds the states of the speech encoder " + said(have) + ", but " +
                  m.model + " was trained on those of " + said(m.speech) +
                  "; build the store with the model's: " +
                  speech_build_command(store, "STORE", m.speech));
}

}  // namespace

std::vector<int> check_store_for_model(features::Store& store, const std::string& name,
                                       const StoreContract& m) {
  const auto& meta = store.meta;
  if (!m.feature_set_version.empty())
    features::check_store_versions(meta, m.feature_set_version, m.functionals_version, name);
  // A model that reads no text takes any store's tokens: they never reach it (a prosody
  // run scores a store of another dataset, whose tokenizer was trained on other words).
  // Only the text path that reads SentencePiece tokens depends on their tokenizer (a
  // pretrained encoder with no n-gram bag reads the transcripts with its own).
  const bool reads_text = m.shape.vocab_size > 0 &&
                          std::any_of(m.shape.tasks.begin(), m.shape.tasks.end(),
                                      [](const TaskSpec& t) { return t.text; });
  if (reads_text && !m.tokenizer_sha256.empty() && meta.tokenizer_sha256 != m.tokenizer_sha256)
    throw DataError(name + " was tokenized with a different SentencePiece model (sha256 " +
                    meta.tokenizer_sha256.substr(0, 12) + ") than " + m.model + " (" +
                    m.tokenizer_sha256.substr(0, 12) +
                    "); build it with the model's: `tenor data build DATASET --out STORE --tokenizer "
                    "TRAINING_STORE.h5` (or a bundle's tokenizer.model)");
  const auto& layout = store.layout;
  if (int(layout.lld_columns.size()) != m.shape.lld_features ||
      int(layout.functional_columns.size()) != m.shape.functional_features)
    throw DataError(name + ": " + std::to_string(layout.lld_columns.size()) + " LLD and " +
                    std::to_string(layout.functional_columns.size()) + " functional columns, but " +
                    m.model + " reads " + std::to_string(m.shape.lld_features) + " and " +
                    std::to_string(m.shape.functional_features) +
                    "; build the features with the model's extractor settings" +
                    speech_hint(store, m));
  check_speech_states(store, name, m);
  std::vector<int> columns;
  for (const auto& t : m.shape.tasks) {
    auto it = std::find(layout.tasks.begin(), layout.tasks.end(), t.name);
    if (it == layout.tasks.end() || !store.task_classes.count(t.name))
      throw DataError(name + ": no task '" + t.name + "' (it has " + join(layout.tasks, ", ") +
                      "), which " + m.model + " predicts; use a store of a dataset with it");
    columns.push_back(int(it - layout.tasks.begin()));
    match_classes(store, name, m, t, size_t(columns.back()));
  }
  return columns;
}

Predictions predict(LoadedRun& run, const TrainData& data, const std::vector<int64_t>& rows,
                    int batch_size, const AugmentedRows* augmented) {
  torch::NoGradGuard no_grad;
  run.model->eval();
  Predictions out;
  const size_t k = run.info.shape.tasks.size();
  std::vector<std::vector<torch::Tensor>> parts(k);
  for (size_t i = 0; i < rows.size(); i += size_t(batch_size)) {
    std::vector<int64_t> chunk(rows.begin() + long(i),
                               rows.begin() + long(std::min(rows.size(), i + size_t(batch_size))));
    Batch b = make_batch(data, chunk, augmented).to(run.device);
    auto logits = run.model->logits(b);
    for (size_t t = 0; t < k; ++t)
      parts[t].push_back(
          task_probabilities(run.info.shape.tasks[t], logits[t]).to(torch::kCPU, torch::kDouble));
  }
  for (size_t t = 0; t < k; ++t) {
    auto p = parts[t].empty()
                 ? torch::zeros({0, run.info.shape.tasks[t].num_classes}, torch::kDouble)
                 : torch::cat(parts[t], 0);
    out.probs.push_back(p);
  }
  return out;
}

}  // namespace tenor::train
