// `tenor predict --bundle BUNDLE | --run RUN --features STORE --call ID`: per-segment scores
// of one call as JSON on stdout, from the exported ONNX model in ONNX Runtime (--bundle) or
// from the run's LibTorch model (--run). Both read the call's features from a feature store
// (`tenor data build`); raw audio and transcripts go through `tenor data build` first.
#include <iostream>

#include <torch/torch.h>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/features/store.h"
#include "export/bundle.h"
#include "export/onnx_layers.h"

namespace tenor::cli {
namespace {
using nlohmann::json;
namespace ox = onnx_export;

json predict_bundle(const std::string& bundle, const std::string& store_path,
                    const std::string& call) {
  auto store = features::read_store(store_path);
  json facts = json::parse(read_file(std::filesystem::path(bundle) / "features.json"));
  features::check_store_versions(store.meta, facts.at("feature_set_version"),
                                 facts.at("functionals_version"), store_path);
  if (store.meta.tokenizer_sha256 != facts.at("tokenizer_sha256").get<std::string>())
    throw DataError(store_path + " was tokenized with another SentencePiece model than bundle " +
                    bundle + "; build the store with the bundle's tokenizer.model");
  auto rows = ox::call_rows(store, call);
  auto tasks = ox::read_tasks(bundle);
  ox::OrtCase c;
  c.name = "call";
  c.inputs = ox::raw_inputs(store, rows);
  auto out = ox::run_onnx_runtime(std::filesystem::path(bundle) / "model.onnx", {c}).at(0);
  std::vector<ox::HostTensor> probs;
  for (const auto& t : tasks) probs.push_back(out.outputs.at(ox::prob_output_name(t.name)));
  return ox::segment_scores(store, rows, tasks, ox::read_calibration(bundle), probs);
}

json predict_run(const std::string& run_dir, const std::string& store_path, const std::string& call,
                 const std::string& checkpoint) {
  auto run = train::load_run(run_dir, "cpu", checkpoint);
  auto data = train::load_store_for_run(run.info, store_path);
  auto rows = ox::call_rows(data.store, call);
  auto calib = ox::run_calibration(run, data);
  auto pred = train::predict(run, data, rows);
  std::vector<ox::HostTensor> probs;
  for (const auto& p : pred.probs) {
    auto f = p.to(torch::kFloat).contiguous();
    probs.push_back(ox::HostTensor::from_f32(
        f.sizes().vec(), std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel())));
  }
  return ox::segment_scores(data.store, rows, run.info.shape.tasks, calib, probs);
}

}  // namespace

void add_predict_command(CLI::App& app) {
  struct Args {
    std::string bundle, run, features, call, checkpoint = "best.pt";
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("predict", "Per-segment scores of one call as JSON");
  auto* b = cmd->add_option("--bundle", a->bundle, "exported bundle (ONNX Runtime path)");
  auto* r = cmd->add_option("--run", a->run, "run directory (LibTorch path)");
  b->excludes(r);
  cmd->add_option("--features", a->features, "feature store holding the call")->required();
  cmd->add_option("--call", a->call, "call id")->required();
  cmd->add_option("--checkpoint", a->checkpoint, "checkpoint of --run")->capture_default_str();
  cmd->callback([a] {
    if (a->bundle.empty() == a->run.empty())
      throw UsageError("tenor predict needs one of --bundle BUNDLE or --run RUN");
    json segments = a->bundle.empty() ? predict_run(a->run, a->features, a->call, a->checkpoint)
                                      : predict_bundle(a->bundle, a->features, a->call);
    json out = {{"call_id", a->call},
                {"source", a->bundle.empty() ? "libtorch" : "onnxruntime"},
                {"model", a->bundle.empty() ? a->run : a->bundle},
                {"segments", segments}};
    std::cout << out.dump(2) << "\n";
  });
}

}  // namespace tenor::cli
