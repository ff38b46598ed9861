#include "train/data.h"

#include <yaml-cpp/yaml.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/error.h"
#include "core/text.h"
#include "data/features/functionals.h"
#include "data/features/lld_config.h"
#include "data/features/tokenizer.h"
#include "train/predict.h"

namespace tenor::train {
using nlohmann::json;

nlohmann::json Normalizer::to_json() const {
  return {{"lld_mean", lld_mean},
          {"lld_std", lld_std},
          {"func_mean", func_mean},
          {"func_std", func_std},
          {"func_dropped", func_dropped}};
}

Normalizer Normalizer::from_json(const nlohmann::json& j) {
  Normalizer n;
  j.at("lld_mean").get_to(n.lld_mean);
  j.at("lld_std").get_to(n.lld_std);
  j.at("func_mean").get_to(n.func_mean);
  j.at("func_std").get_to(n.func_std);
  j.at("func_dropped").get_to(n.func_dropped);
  return n;
}

namespace {

/// LLD columns whose level is removed per segment under loudness normalisation.
std::vector<int> level_columns(const std::vector<std::string>& lld_columns) {
  std::vector<int> out;
  for (size_t c = 0; c < lld_columns.size(); ++c)
    if (lld_columns[c] == "intensity_db" || lld_columns[c] == "loudness" ||
        lld_columns[c].rfind("logmel_", 0) == 0)
      out.push_back(static_cast<int>(c));
  return out;
}

}  // namespace

TrainData inference_data(features::Store store, const TrainConfig& config, const Normalizer& norm,
                         const ModelShape& shape) {
  TrainData d;
  d.store = std::move(store);
  d.shape = shape;
  // Extracted with the model's own extractor configuration and tokenizer: what remains to
  // check is the store-versus-model check every reader of a store goes through.
  StoreContract model;
  model.model = "the model";
  model.shape = shape;
  d.task_columns = check_store_for_model(d.store, "the call's features", model);
  d.norm = norm;
  d.normalize_loudness = config.normalize_loudness;
  d.level_lld_columns = level_columns(d.store.layout.lld_columns);
  for (size_t i = 0; i < d.store.segments.size(); ++i) d.test.push_back(int64_t(i));
  d.previous = features::previous_segments(d.store);
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

TrainData load_train_data(const TrainConfig& config, const Normalizer* given) {
  return load_train_data(config, features::read_store(config.features), given);
}

TrainData load_train_data(const TrainConfig& config, features::Store store,
                          const Normalizer* given) {
  TrainData d;
  d.store_path = config.features;
  d.store = std::move(store);
  features::check_store_versions(d.store.meta, features::kFeatureSetVersion,
                                 features::kFunctionalsVersion, config.features);
  d.shape.tasks = task_specs(d.store, config.tasks, config.model);
  for (const auto& t : d.shape.tasks)
    d.task_columns.push_back(static_cast<int>(
        std::find(d.store.layout.tasks.begin(), d.store.layout.tasks.end(), t.name) -
        d.store.layout.tasks.begin()));
  d.shape.lld_features = static_cast<int>(d.store.layout.lld_columns.size());
  d.shape.functional_features = static_cast<int>(d.store.layout.functional_columns.size());
  if (!d.store.tokenizer_model.empty() && config.model.use_text)
    d.shape.vocab_size = features::Tokenizer(d.store.tokenizer_model).vocab_size();
  if (config.model.text_embedding) {
    if (d.store.text_embedding_dim == 0)
      throw DataError(config.features +
                      " holds no sentence embeddings (model.text_embedding is true); build it "
                      "with `tenor data build DATASET --out " +
                      config.features +
                      " --text-embeddings FILE` (tools/sentence-embeddings/embed.sh writes FILE) "
                      "or set model.text_embedding false");
    d.shape.text_embedding_dim = d.store.text_embedding_dim;
    d.shape.text_encoder = d.store.meta.text_encoder;
  }
  const size_t n = d.store.segments.size();
  for (size_t i = 0; i < n; ++i) {
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
  if (d.train.empty())
    throw DataError(config.features + " has no labelled training segments for " + [&] {
      std::vector<std::string> names;
      for (const auto& t : d.shape.tasks) names.push_back(t.name);
      return join(names, ", ");
    }() + "; assign splits with `tenor data split` and rebuild the store");
  d.previous = features::previous_segments(d.store);
  d.normalize_loudness = config.normalize_loudness;
  const auto& lcols = d.store.layout.lld_columns;
  d.level_lld_columns = level_columns(lcols);

  if (given) {
    d.norm = *given;
  } else {
    // Statistics over the training split only.
    const size_t fl = lcols.size(), ff = d.store.layout.functional_columns.size();
    std::vector<double> ls(fl, 0), lss(fl, 0), fs(ff, 0), fss(ff, 0), fc(ff, 0);
    double frames = 0;
    for (int64_t r : d.train) {
      for (int64_t t = d.store.frame_offsets[size_t(r)]; t < d.store.frame_offsets[size_t(r) + 1];
           ++t) {
        for (size_t c = 0; c < fl; ++c) {
          double v = d.store.frames[size_t(t) * fl + c];
          ls[c] += v, lss[c] += v * v;
        }
        frames += 1;
      }
      for (size_t c = 0; c < ff; ++c) {
        if (!d.store.functional_mask[size_t(r) * ff + c]) continue;
        double v = d.store.functionals[size_t(r) * ff + c];
        fs[c] += v, fss[c] += v * v, fc[c] += 1;
      }
    }
    auto finish = [](double s, double ss, double count, std::vector<float>& mean,
                     std::vector<float>& sd) {
      double m = count > 0 ? s / count : 0, var = count > 0 ? ss / count - m * m : 1;
      mean.push_back(float(m));
      sd.push_back(float(std::sqrt(std::max(var, 1e-8))));
    };
    for (size_t c = 0; c < fl; ++c) finish(ls[c], lss[c], frames, d.norm.lld_mean, d.norm.lld_std);
    for (size_t c = 0; c < ff; ++c) finish(fs[c], fss[c], fc[c], d.norm.func_mean, d.norm.func_std);
    d.norm.func_dropped.assign(ff, 0);
    if (config.normalize_loudness) {
      // Absolute-level functionals go; scale-free ones (coefficients of variation) stay.
      for (size_t c = 0; c < ff; ++c) {
        const auto& name = d.store.layout.functional_columns[c];
        bool level = name.rfind("intensity_db_", 0) == 0 || name.rfind("loudness_", 0) == 0;
        if (level && name.find("_cv") == std::string::npos) d.norm.func_dropped[c] = 1;
      }
      // The per-segment level removal changes the LLD distribution: its statistics are
      // computed on the normalised frames in make_batch's terms (mean 0 per segment).
      for (int c : d.level_lld_columns) d.norm.lld_mean[size_t(c)] = 0;
    }
  }
  for (size_t k = 0; k < d.shape.tasks.size(); ++k) {
    std::vector<double> counts(size_t(d.shape.tasks[k].num_classes), 0);
    double total = 0;
    for (int64_t r : d.train) {
      int y = d.store.segments[size_t(r)].labels[size_t(d.task_columns[k])];
      if (y >= 0) counts[size_t(y)] += 1, total += 1;
    }
    std::vector<float> w;
    for (double c : counts) w.push_back(float(total / (double(counts.size()) * std::max(c, 1.0))));
    d.class_weights.push_back(torch::tensor(w));
  }
  return d;
}

Batch make_batch(const TrainData& d, const std::vector<int64_t>& rows, const ModelConfig& model) {
  const int64_t b = int64_t(rows.size());
  const size_t fl = d.store.layout.lld_columns.size(),
               ff = d.store.layout.functional_columns.size();
  int64_t max_t = 1, max_l = 1;
  for (int64_t r : rows) {
    max_t = std::max<int64_t>(
        max_t, std::min<int64_t>(model.max_frames, d.store.frame_offsets[size_t(r) + 1] -
                                                       d.store.frame_offsets[size_t(r)]));
    max_l = std::max<int64_t>(
        max_l, std::min<int64_t>(model.max_tokens, d.store.token_offsets[size_t(r) + 1] -
                                                       d.store.token_offsets[size_t(r)]));
  }
  Batch batch;
  batch.index = rows;
  batch.frames = torch::zeros({b, max_t, int64_t(fl)});
  batch.frame_len = torch::zeros({b}, torch::kLong);
  batch.functionals = torch::zeros({b, int64_t(ff)});
  batch.func_mask = torch::zeros({b, int64_t(ff)});
  batch.tokens = torch::zeros({b, max_l}, torch::kLong);
  batch.token_len = torch::zeros({b}, torch::kLong);
  batch.labels = torch::full({b, int64_t(d.task_columns.size())}, -1, torch::kLong);
  auto fr = batch.frames.accessor<float, 3>();
  auto fu = batch.functionals.accessor<float, 2>();
  auto fm = batch.func_mask.accessor<float, 2>();
  auto tk = batch.tokens.accessor<int64_t, 2>();
  auto lb = batch.labels.accessor<int64_t, 2>();
  auto flen = batch.frame_len.accessor<int64_t, 1>();
  auto tlen = batch.token_len.accessor<int64_t, 1>();
  // Context: the first context_tokens tokens of each row's previous segment in its call.
  const bool context = model.use_text && model.context_tokens > 0;
  if (context && d.previous.size() != d.store.segments.size())
    throw std::logic_error("make_batch: TrainData::previous is not set for this store");
  auto ctx_range = [&](size_t r) -> std::pair<int64_t, int64_t> {
    const int64_t p = context ? d.previous[r] : -1;
    if (p < 0) return {0, 0};
    const int64_t k0 = d.store.token_offsets[size_t(p)];
    return {k0, std::min<int64_t>(model.context_tokens, d.store.token_offsets[size_t(p) + 1] - k0)};
  };
  int64_t max_c = 1;
  for (int64_t r : rows) max_c = std::max(max_c, ctx_range(size_t(r)).second);
  batch.ctx_tokens = torch::zeros({b, max_c}, torch::kLong);
  batch.ctx_len = torch::zeros({b}, torch::kLong);
  auto ck = batch.ctx_tokens.accessor<int64_t, 2>();
  auto clen = batch.ctx_len.accessor<int64_t, 1>();
  const int64_t sd = model.text_embedding ? d.shape.text_embedding_dim : 0;
  if (sd > 0) {
    batch.text_embedding = torch::zeros({b, sd});
    float* dst = batch.text_embedding.data_ptr<float>();
    for (int64_t i = 0; i < b; ++i)
      std::copy_n(&d.store.text_embedding[size_t(rows[size_t(i)] * sd)], sd, dst + i * sd);
  }
  std::vector<double> level_mean(fl);
  for (int64_t i = 0; i < b; ++i) {
    const size_t r = size_t(rows[size_t(i)]);
    const int64_t t0 = d.store.frame_offsets[r];
    const int64_t t_n = std::min<int64_t>(model.max_frames, d.store.frame_offsets[r + 1] - t0);
    flen[i] = t_n;
    if (d.normalize_loudness && t_n > 0) {
      for (int c : d.level_lld_columns) {
        double s = 0;
        for (int64_t t = 0; t < t_n; ++t) s += d.store.frames[size_t(t0 + t) * fl + size_t(c)];
        level_mean[size_t(c)] = s / double(t_n);
      }
    }
    for (int64_t t = 0; t < t_n; ++t) {
      const float* src = &d.store.frames[size_t(t0 + t) * fl];
      for (size_t c = 0; c < fl; ++c)
        fr[i][t][int64_t(c)] = (src[c] - d.norm.lld_mean[c]) / d.norm.lld_std[c];
      if (d.normalize_loudness)
        for (int c : d.level_lld_columns)
          fr[i][t][c] = float((src[c] - level_mean[size_t(c)]) / d.norm.lld_std[size_t(c)]);
    }
    for (size_t c = 0; c < ff; ++c) {
      if (!d.store.functional_mask[r * ff + c] || d.norm.func_dropped[c]) continue;
      float v = (d.store.functionals[r * ff + c] - d.norm.func_mean[c]) / d.norm.func_std[c];
      fu[i][int64_t(c)] = std::clamp(v, -10.0f, 10.0f);
      fm[i][int64_t(c)] = 1;
    }
    const int64_t k0 = d.store.token_offsets[r];
    const int64_t k_n = std::min<int64_t>(model.max_tokens, d.store.token_offsets[r + 1] - k0);
    tlen[i] = model.use_text ? k_n : 0;
    for (int64_t k = 0; k < k_n; ++k) tk[i][k] = d.store.tokens[size_t(k0 + k)];
    const auto [c0, c_n] = ctx_range(r);
    clen[i] = c_n;
    for (int64_t k = 0; k < c_n; ++k) ck[i][k] = d.store.tokens[size_t(c0 + k)];
    for (size_t k = 0; k < d.task_columns.size(); ++k)
      lb[i][int64_t(k)] = d.store.segments[r].labels[size_t(d.task_columns[k])];
  }
  return batch;
}

}  // namespace tenor::train
