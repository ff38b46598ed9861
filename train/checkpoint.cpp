#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <set>

#include "core/atomic_file.h"
#include "core/error.h"

namespace tenor::train {
namespace {

torch::Tensor scalar(int64_t v) { return torch::tensor(v, torch::kLong); }

/// Parameters that models before the removal of the attention-pooling score bias had
/// ("prosody.pool.score.bias", "text.pool.score.bias"). Softmax over time is invariant to a
/// constant added to every score, so dropping one leaves every output unchanged.
bool legacy_pool_bias(const std::string& key) {
  const std::string suffix = "pool.score.bias";
  return key.size() >= suffix.size() &&
         key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
}

torch::Tensor text_tensor(const std::string& s) {
  auto t = torch::empty({int64_t(s.size())}, torch::kUInt8);
  std::memcpy(t.data_ptr(), s.data(), s.size());
  return t;
}

std::string tensor_text(const torch::Tensor& t) {
  auto c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), size_t(c.numel()));
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const torch::nn::Module& model,
                     torch::optim::Optimizer* optimizer, const TrainState& s) {
  torch::serialize::OutputArchive archive;
  for (const auto& p : model.named_parameters())
    archive.write("model." + p.key(), p.value().detach().cpu());
  for (const auto& b : model.named_buffers())
    archive.write("buffer." + b.key(), b.value().detach().cpu());
  if (optimizer) {
    torch::serialize::OutputArchive opt;
    optimizer->save(opt);
    archive.write("optimizer", opt);
  }
  archive.write("state.epoch", scalar(s.epoch));
  archive.write("state.batch", scalar(s.batch));
  archive.write("state.step", scalar(s.step));
  archive.write("state.metrics_lines", scalar(s.metrics_lines));
  archive.write("state.bad_epochs", scalar(s.bad_epochs));
  archive.write("state.best_epoch", scalar(s.best_epoch));
  archive.write("state.best_score", torch::tensor(s.best_score, torch::kDouble));
  archive.write("state.epoch_loss_sum", torch::tensor(s.epoch_loss_sum, torch::kDouble));
  archive.write("state.epoch_loss_count", scalar(s.epoch_loss_count));
  archive.write("state.epoch_segments", scalar(s.epoch_segments));
  archive.write("state.config_sha256", text_tensor(s.config_sha256));
  archive.write("state.best_list", text_tensor(s.best_list));
  archive.write("state.store_sha256", text_tensor(s.store_sha256));
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    archive.write("state.rng", gen.get_state());
  }
  const auto temp = temp_path_beside(path);
  archive.save_to(temp.string());
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec)
    throw IoError("cannot rename " + temp.string() + " to " + path.string() + ": " + ec.message());
}

TrainState load_checkpoint(const std::filesystem::path& path, torch::nn::Module& model,
                           torch::optim::Optimizer* optimizer, bool restore_rng) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string());
  } catch (const c10::Error& e) {
    throw DataError("checkpoint " + path.string() + " is damaged or not a tenor checkpoint (" +
                    std::string(e.what_without_backtrace()).substr(0, 200) +
                    "); delete it to start over");
  }
  TrainState s;
  try {
    // Parameters the model lacks: a legacy attention-pool bias is ignored when only the
    // weights are read (eval, export, predict); the optimizer state of such a checkpoint is
    // indexed over a different parameter list, so training cannot resume from it.
    std::set<std::string> expected;
    for (const auto& p : model.named_parameters()) expected.insert("model." + p.key());
    for (const auto& key : archive.keys()) {
      if (key.rfind("model.", 0) != 0 || expected.count(key)) continue;
      const std::string name = key.substr(6);
      if (!legacy_pool_bias(name))
        throw DataError("checkpoint " + path.string() + " has a parameter '" + name +
                        "' the model does not have: it was written by a different model "
                        "configuration");
      if (optimizer)
        throw DataError("checkpoint " + path.string() + " holds '" + name +
                        "', an attention-pool score bias of an older tenor: its weights still "
                        "work for eval and export, but training cannot resume from it; delete "
                        "it to start over, or choose another `out`");
    }
    torch::NoGradGuard no_grad;
    for (auto& p : model.named_parameters()) {
      torch::Tensor t;
      if (!archive.try_read("model." + p.key(), t))
        throw DataError("checkpoint " + path.string() + " has no parameter '" + p.key() +
                        "': it was written by a different model configuration");
      if (t.sizes() != p.value().sizes())
        throw DataError("checkpoint " + path.string() + ": parameter '" + p.key() + "' has shape " +
                        c10::str(t.sizes()) + ", the model expects " + c10::str(p.value().sizes()) +
                        "; the checkpoint belongs to another model configuration or feature store");
      p.value().copy_(t);
    }
    for (auto& b : model.named_buffers()) {
      torch::Tensor t;
      if (archive.try_read("buffer." + b.key(), t)) b.value().copy_(t);
    }
    if (optimizer) {
      torch::serialize::InputArchive opt;
      archive.read("optimizer", opt);
      optimizer->load(opt);
    }
    // A fresh tensor per read: reading into a defined tensor would try to resize its storage.
    auto read = [&](const char* key) {
      torch::Tensor t;
      archive.read(key, t);
      return t;
    };
    s.epoch = read("state.epoch").item<int64_t>();
    s.batch = read("state.batch").item<int64_t>();
    s.step = read("state.step").item<int64_t>();
    s.metrics_lines = read("state.metrics_lines").item<int64_t>();
    s.bad_epochs = read("state.bad_epochs").item<int64_t>();
    s.best_epoch = read("state.best_epoch").item<int64_t>();
    s.best_score = read("state.best_score").item<double>();
    s.epoch_loss_sum = read("state.epoch_loss_sum").item<double>();
    s.epoch_loss_count = read("state.epoch_loss_count").item<int64_t>();
    s.epoch_segments = read("state.epoch_segments").item<int64_t>();
    s.config_sha256 = tensor_text(read("state.config_sha256"));
    s.best_list = tensor_text(read("state.best_list"));
    if (torch::Tensor t; archive.try_read("state.store_sha256", t)) s.store_sha256 = tensor_text(t);
    if (restore_rng) {
      auto rng = read("state.rng");
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng);
    }
  } catch (const c10::Error& e) {
    throw DataError("checkpoint " + path.string() + " is incomplete (" +
                    std::string(e.what_without_backtrace()).substr(0, 200) +
                    "); delete it to start over");
  }
  return s;
}

}  // namespace tenor::train
