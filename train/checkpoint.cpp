#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <map>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sha256.h"
#include "train/weight_average.h"

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

/// The checksum a checkpoint carries: SHA-256 over every tensor in key order, each as its
/// key, dtype, shape and the bytes of its data. It is what eval, export and predict read,
/// so a flipped byte in the weights, a renamed key or a changed shape all change it.
constexpr const char* kChecksumKey = "integrity.tensors_sha256";
/// The optimizer's own archive, serialised into a byte tensor (covered by the checksum).
/// Checkpoints from before the checksum nest it as an archive under "optimizer".
constexpr const char* kOptimizerKey = "optimizer.archive";
/// The weight average's tensors: this prefix + the model's own key ("average.model.x").
constexpr const char* kAveragePrefix = "average.";

std::string tensors_sha256(const std::map<std::string, torch::Tensor>& entries) {
  Sha256 sha;
  for (const auto& [key, tensor] : entries) {
    const torch::Tensor t = tensor.contiguous();
    sha.update(key).update(std::string_view("\0", 1));
    sha.update(c10::toString(t.scalar_type())).update(c10::str(t.sizes()));
    sha.update(std::string_view("\0", 1));
    sha.update(std::string_view(static_cast<const char*>(t.data_ptr()), t.nbytes()));
  }
  return sha.hex();
}

/// What to do about a damaged checkpoint, by its role in the run.
std::string damaged_fix(const std::filesystem::path& path) {
  if (path.filename() == "last.pt")
    return "restore it from a copy, or delete it and run `tenor train` again with the same "
           "config (training restarts from the beginning)";
  return "restore it from a copy or train again; `tenor export` and `tenor predict` can use "
         "another checkpoint of the run instead (--checkpoint last.pt or best-epoch-N.pt)";
}

/// Refuses a checkpoint whose tensors differ from those it was saved with. A checkpoint
/// from before the checksum is loaded unchecked, with a warning.
void verify_checksum(torch::serialize::InputArchive& archive, const std::filesystem::path& path) {
  torch::Tensor stored;
  if (!archive.try_read(kChecksumKey, stored)) {
    logger("train")->warn(
        "checkpoint {} carries no checksum (written by a tenor from before checkpoints had "
        "one): it is loaded without an integrity check",
        path.string());
    return;
  }
  std::map<std::string, torch::Tensor> entries;
  for (const auto& key : archive.keys()) {
    torch::Tensor t;
    if (key != kChecksumKey && archive.try_read(key, t)) entries[key] = t;
  }
  const std::string expected = tensor_text(stored), actual = tensors_sha256(entries);
  if (actual != expected)
    throw DataError("checkpoint " + path.string() +
                    " is damaged: its tensors no longer match the checksum written with them "
                    "(SHA-256 " + actual.substr(0, 12) + ", saved " + expected.substr(0, 12) +
                    "); it was changed after it was saved; " + damaged_fix(path));
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const torch::nn::Module& model,
                     torch::optim::Optimizer* optimizer, const TrainState& s,
                     const WeightAverage* average) {
  std::map<std::string, torch::Tensor> entries;
  for (const auto& p : model.named_parameters())
    entries["model." + p.key()] = p.value().detach().cpu();
  for (const auto& b : model.named_buffers())
    entries["buffer." + b.key()] = b.value().detach().cpu();
  if (optimizer) {
    // Serialised into a byte tensor rather than nested as an archive, so that the checksum,
    // which covers tensors, covers the AdamW moments too.
    torch::serialize::OutputArchive opt;
    optimizer->save(opt);
    std::ostringstream bytes;
    opt.save_to(bytes);
    entries[kOptimizerKey] = text_tensor(bytes.str());
  }
  if (average)
    for (const auto& [key, t] : average->tensors())
      entries[kAveragePrefix + key] = t.detach().cpu();
  entries["state.epoch"] = scalar(s.epoch);
  entries["state.batch"] = scalar(s.batch);
  entries["state.step"] = scalar(s.step);
  entries["state.metrics_lines"] = scalar(s.metrics_lines);
  entries["state.bad_epochs"] = scalar(s.bad_epochs);
  entries["state.best_epoch"] = scalar(s.best_epoch);
  entries["state.best_score"] = torch::tensor(s.best_score, torch::kDouble);
  entries["state.epoch_loss_sum"] = torch::tensor(s.epoch_loss_sum, torch::kDouble);
  entries["state.epoch_loss_count"] = scalar(s.epoch_loss_count);
  entries["state.epoch_segments"] = scalar(s.epoch_segments);
  entries["state.config_sha256"] = text_tensor(s.config_sha256);
  entries["state.best_list"] = text_tensor(s.best_list);
  entries["state.store_sha256"] = text_tensor(s.store_sha256);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    entries["state.rng"] = gen.get_state();
  }
  torch::serialize::OutputArchive archive;
  for (const auto& [key, t] : entries) archive.write(key, t);
  archive.write(kChecksumKey, text_tensor(tensors_sha256(entries)));
  const auto temp = temp_path_beside(path);
  archive.save_to(temp.string());
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec)
    throw IoError("cannot rename " + temp.string() + " to " + path.string() + ": " + ec.message());
}

namespace {

/// Refuses a checkpoint with a parameter the model lacks; a legacy attention-pool bias is
/// ignored when only the weights are read (eval, export, predict), but its optimizer state is
/// indexed over a different parameter list, so training cannot resume from it.
void check_extra_parameters(torch::serialize::InputArchive& archive, torch::nn::Module& model,
                            const std::filesystem::path& path, bool resuming) {
  std::set<std::string> expected;
  for (const auto& p : model.named_parameters()) expected.insert("model." + p.key());
  for (const auto& key : archive.keys()) {
    if (key.rfind("model.", 0) != 0 || expected.count(key)) continue;
    const std::string name = key.substr(6);
    if (!legacy_pool_bias(name))
      throw DataError("checkpoint " + path.string() + " has a parameter '" + name +
                      "' the model does not have: it was written by a different model "
                      "configuration");
    if (resuming)
      throw DataError("checkpoint " + path.string() + " holds '" + name +
                      "', an attention-pool score bias of an older tenor: its weights still "
                      "work for eval and export, but training cannot resume from it; delete "
                      "it to start over, or choose another `out`");
  }
}

/// Copies every model parameter (which must be there, with its shape) and the buffers present.
void read_weights(torch::serialize::InputArchive& archive, torch::nn::Module& model,
                  const std::filesystem::path& path) {
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
}

/// Restores the optimizer from its byte tensor, or from the nested archive of older runs.
void read_optimizer(torch::serialize::InputArchive& archive, torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive opt;
  if (torch::Tensor bytes; archive.try_read(kOptimizerKey, bytes)) {
    const std::string text = tensor_text(bytes);
    opt.load_from(text.data(), text.size());
  } else {
    archive.read("optimizer", opt);
  }
  optimizer.load(opt);
}

/// Fills the weight average from the checkpoint: every key it holds must be there, with its
/// shape (the config hash covers optim.ema_decay, so a run that averages wrote them).
void read_average(torch::serialize::InputArchive& archive, WeightAverage& average,
                  const std::filesystem::path& path) {
  for (auto& [key, a] : average.tensors()) {
    torch::Tensor t;
    if (!archive.try_read(kAveragePrefix + key, t) || t.sizes() != a.sizes())
      throw DataError("checkpoint " + path.string() + " has no weight average for '" + key +
                      "' (optim.ema_decay) or one of another shape: it was not written by this "
                      "run's configuration; " + damaged_fix(path));
    a.copy_(t);
  }
}

/// Reads the loop counters and best-k state, and restores the CPU generator if asked.
TrainState read_state(torch::serialize::InputArchive& archive, bool restore_rng) {
  // A fresh tensor per read: reading into a defined tensor would try to resize its storage.
  auto read = [&](const char* key) {
    torch::Tensor t;
    archive.read(key, t);
    return t;
  };
  TrainState s;
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
  return s;
}

}  // namespace

TrainState load_checkpoint(const std::filesystem::path& path, torch::nn::Module& model,
                           torch::optim::Optimizer* optimizer, bool restore_rng,
                           WeightAverage* average,
                           const std::function<void(const TrainState&)>& check_state) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string());
  } catch (const c10::Error& e) {
    throw DataError("checkpoint " + path.string() + " is damaged or not a tenor checkpoint (" +
                    std::string(e.what_without_backtrace()).substr(0, 200) + "); " +
                    damaged_fix(path));
  }
  TrainState s;
  try {
    verify_checksum(archive, path);
    s = read_state(archive, restore_rng);
    if (check_state) check_state(s);
    check_extra_parameters(archive, model, path, optimizer != nullptr);
    torch::NoGradGuard no_grad;
    read_weights(archive, model, path);
    if (optimizer) read_optimizer(archive, *optimizer);
    if (average) read_average(archive, *average, path);
  } catch (const c10::Error& e) {
    throw DataError("checkpoint " + path.string() + " is incomplete (" +
                    std::string(e.what_without_backtrace()).substr(0, 200) + "); " +
                    damaged_fix(path));
  }
  return s;
}

}  // namespace tenor::train
