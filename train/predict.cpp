#include "train/predict.h"

#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/features/device.h"
#include "train/checkpoint.h"

namespace tenor::train {
namespace fs = std::filesystem;
using nlohmann::json;

json shape_to_json(const ModelShape& s) {
  json tasks = json::array();
  for (const auto& t : s.tasks) {
    tasks.push_back({{"name", t.name},
                     {"type", t.type == HeadType::kOrdinal       ? "ordinal"
                              : t.type == HeadType::kCategorical ? "categorical"
                                                                 : "binary"},
                     {"num_classes", t.num_classes},
                     {"speaker", t.speaker},
                     {"prosody", t.prosody},
                     {"functionals", t.functionals},
                     {"text", t.text}});
  }
  return {{"lld_features", s.lld_features}, {"functional_features", s.functional_features},
          {"vocab_size", s.vocab_size},     {"text_embedding_dim", s.text_embedding_dim},
          {"text_encoder", s.text_encoder}, {"tasks", tasks}};
}

ModelShape shape_from_json(const json& j) {
  ModelShape s;
  s.lld_features = j.at("lld_features");
  s.functional_features = j.at("functional_features");
  s.vocab_size = j.at("vocab_size");
  s.text_embedding_dim = j.value("text_embedding_dim", 0);  // absent in runs before it existed
  s.text_encoder = j.value("text_encoder", "");
  for (const auto& t : j.at("tasks")) {
    TaskSpec spec;
    spec.name = t.at("name");
    std::string type = t.at("type");
    spec.type = type == "ordinal"       ? HeadType::kOrdinal
                : type == "categorical" ? HeadType::kCategorical
                                        : HeadType::kBinary;
    spec.num_classes = t.at("num_classes");
    spec.speaker = t.at("speaker");
    spec.prosody = t.at("prosody");
    spec.functionals = t.at("functionals");
    spec.text = t.at("text");
    s.tasks.push_back(spec);
  }
  return s;
}

RunInfo read_run(const fs::path& dir) {
  RunInfo run;
  run.dir = dir;
  for (const char* f : {"config.yaml", "normalizer.json", "shape.json", "result.json"}) {
    std::error_code ec;
    if (!fs::exists(dir / f, ec))
      throw DataError("run " + dir.string() + " has no " + f +
                      "; is it a finished `tenor train` run directory?");
  }
  apply_yaml_file(run.config, (dir / "config.yaml").string());
  // Runs from before model.ngrams existed (their resolved config lacks the key) were trained
  // without the n-gram path.
  if (!YAML::LoadFile((dir / "config.yaml").string())["model"]["ngrams"])
    run.config.model.ngrams = false;
  run.norm = Normalizer::from_json(json::parse(read_file(dir / "normalizer.json")));
  run.shape = shape_from_json(json::parse(read_file(dir / "shape.json")));
  run.result = json::parse(read_file(dir / "result.json"));
  return run;
}

LoadedRun load_run(const fs::path& dir, const std::string& device, const std::string& checkpoint) {
  LoadedRun run;
  run.info = read_run(dir);
  run.device = features::resolve_device(device);
  run.model = make_model(run.info.shape, run.info.config.model);
  load_checkpoint(dir / checkpoint, *run.model, nullptr, /*restore_rng=*/false);
  run.model->to(run.device);
  run.model->eval();
  return run;
}

TrainData load_store_for_run(const RunInfo& run, const std::string& store_path) {
  TrainConfig config = run.config;
  config.features = store_path;
  std::vector<std::string> tasks;
  for (const auto& t : run.shape.tasks) tasks.push_back(t.name);
  config.tasks = tasks;
  TrainData data = load_train_data(config, &run.norm);
  const auto& meta = data.store.meta;
  if (meta.tokenizer_sha256 != run.result.value("tokenizer_sha256", ""))
    throw DataError(store_path + " was tokenized with a different SentencePiece model (sha256 " +
                    meta.tokenizer_sha256.substr(0, 12) + ") than run " + run.dir.string() + " (" +
                    run.result.value("tokenizer_sha256", "").substr(0, 12) +
                    "); build the store with the training store's tokenizer or evaluate on the "
                    "run's own store");
  if (data.shape.lld_features != run.shape.lld_features ||
      data.shape.functional_features != run.shape.functional_features)
    throw DataError(store_path + " has " + std::to_string(data.shape.lld_features) + " LLD and " +
                    std::to_string(data.shape.functional_features) + " functional columns, run " +
                    run.dir.string() + " was trained on " + std::to_string(run.shape.lld_features) +
                    " and " + std::to_string(run.shape.functional_features) +
                    "; rebuild the store with the run's settings");
  if (run.shape.text_embedding_dim > 0 &&
      (data.store.meta.text_encoder != run.shape.text_encoder ||
       data.store.text_embedding_dim != run.shape.text_embedding_dim))
    throw DataError(store_path + " holds sentence embeddings of '" + data.store.meta.text_encoder +
                    "' (" + std::to_string(data.store.text_embedding_dim) + "-d), run " +
                    run.dir.string() + " was trained on '" + run.shape.text_encoder + "' (" +
                    std::to_string(run.shape.text_embedding_dim) +
                    "-d); build the store with --text-embeddings from the same encoder");
  for (size_t k = 0; k < data.shape.tasks.size(); ++k)
    if (data.shape.tasks[k].num_classes != run.shape.tasks[k].num_classes)
      throw DataError("task '" + data.shape.tasks[k].name + "' has " +
                      std::to_string(data.shape.tasks[k].num_classes) + " classes in " +
                      store_path + " but " + std::to_string(run.shape.tasks[k].num_classes) +
                      " in run " + run.dir.string() + "; the task schemas differ");
  data.shape = run.shape;
  return data;
}

Predictions predict(LoadedRun& run, const TrainData& data, const std::vector<int64_t>& rows,
                    int batch_size) {
  torch::NoGradGuard no_grad;
  run.model->eval();
  Predictions out;
  out.rows = rows;
  const size_t k = run.info.shape.tasks.size();
  std::vector<std::vector<torch::Tensor>> parts(k);
  for (size_t i = 0; i < rows.size(); i += size_t(batch_size)) {
    std::vector<int64_t> chunk(rows.begin() + long(i),
                               rows.begin() + long(std::min(rows.size(), i + size_t(batch_size))));
    Batch b = make_batch(data, chunk, run.info.config.model).to(run.device);
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
    out.log_probs.push_back(p.clamp_min(1e-12).log());
  }
  return out;
}

}  // namespace tenor::train
