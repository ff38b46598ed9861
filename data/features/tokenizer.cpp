#include "data/features/tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string_view>

#include "core/error.h"

namespace tenor::features {
namespace {

/// The SentencePiece shim (spm_shim.cpp), loaded once, privately; see there for why.
struct Shim {
  int (*train)(const char* const*, size_t, const char*, char**, size_t*, char**) = nullptr;
  void* (*load)(const char*, size_t, char**) = nullptr;
  size_t (*encode)(void*, const char*, size_t, int32_t**) = nullptr;
  int (*vocab_size)(void*) = nullptr;
  const char* (*piece)(void*, int) = nullptr;
  void (*unload)(void*) = nullptr;
  void (*free)(void*) = nullptr;
};

const Shim& shim() {
  static Shim s;
  static std::once_flag once;
  std::call_once(once, [] {
    namespace fs = std::filesystem;
    // Where to look: $TENOR_SPM_LIBRARY, beside the running executable, where `cmake
    // --install` puts it (a product linking tenor::scoring), the build tree.
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("TENOR_SPM_LIBRARY")) candidates.emplace_back(env);
    std::error_code ec;
    auto exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) candidates.push_back((exe.parent_path() / "libtenor_spm.so").string());
    candidates.emplace_back(TENOR_SPM_INSTALLED_PATH);
    candidates.emplace_back(TENOR_SPM_LIBRARY_PATH);
    void* lib = nullptr;
    std::string errors;
    for (const auto& c : candidates) {
      if (!fs::exists(c, ec)) continue;
      lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (lib) break;
      errors += std::string("; ") + dlerror();
    }
    if (!lib)
      throw DataError(
          "cannot load libtenor_spm.so (the SentencePiece bridge); looked beside the tenor binary "
          "and in " +
          std::string(TENOR_SPM_INSTALLED_PATH) + " and " + std::string(TENOR_SPM_LIBRARY_PATH) + errors + "; set TENOR_SPM_LIBRARY to its path");
    auto get = [&](const char* name) {
      void* f = dlsym(lib, name);
      if (!f) throw DataError(std::string("libtenor_spm.so lacks ") + name + "; rebuild tenor");
      return f;
    };
    s.train = reinterpret_cast<decltype(s.train)>(get("tenor_spm_train"));
    s.load = reinterpret_cast<decltype(s.load)>(get("tenor_spm_load"));
    s.encode = reinterpret_cast<decltype(s.encode)>(get("tenor_spm_encode"));
    s.vocab_size = reinterpret_cast<decltype(s.vocab_size)>(get("tenor_spm_vocab_size"));
    s.piece = reinterpret_cast<decltype(s.piece)>(get("tenor_spm_piece"));
    s.unload = reinterpret_cast<decltype(s.unload)>(get("tenor_spm_unload"));
    s.free = reinterpret_cast<decltype(s.free)>(get("tenor_spm_free"));
  });
  return s;
}

std::string take_error(char* error) {
  std::string out = error ? error : "unknown error";
  if (error) shim().free(error);
  return out;
}

}  // namespace

void TokenizerConfig::validate() const {
  if (vocab_size < 16 || vocab_size > 1'000'000)
    throw ConfigError("tokenizer.vocab_size " + std::to_string(vocab_size) +
                      " must lie between 16 and 1000000");
  if (model_type != "unigram" && model_type != "bpe")
    throw ConfigError("tokenizer.model_type '" + model_type + "' must be unigram or bpe");
}

std::string train_tokenizer(const std::vector<std::string>& texts, const TokenizerConfig& config) {
  config.validate();
  std::vector<const char*> ptrs;
  for (const auto& t : texts)
    if (!t.empty()) ptrs.push_back(t.c_str());
  if (ptrs.empty())
    throw DataError("no transcripts to train the tokenizer on (the training split has no text)");
  // One thread and no sentence sampling keep the model identical for identical input.
  const std::string args =
      "model_type=" + config.model_type + "\nvocab_size=" + std::to_string(config.vocab_size) +
      "\nhard_vocab_limit=false\nnum_threads=1\ninput_sentence_size=0"
      "\nshuffle_input_sentence=false\ncharacter_coverage=1.0\npad_id=0\nunk_id=1"
      "\nbos_id=-1\neos_id=-1\nminloglevel=2";
  char* model = nullptr;
  size_t len = 0;
  char* error = nullptr;
  if (shim().train(ptrs.data(), ptrs.size(), args.c_str(), &model, &len, &error) != 0)
    throw DataError("training the SentencePiece tokenizer failed: " + take_error(error));
  std::string out(model, len);
  shim().free(model);
  return out;
}

struct Tokenizer::Impl {
  void* handle = nullptr;
};

Tokenizer::Tokenizer(const std::string& model) : impl_(std::make_unique<Impl>()) {
  char* error = nullptr;
  impl_->handle = shim().load(model.data(), model.size(), &error);
  if (!impl_->handle) throw DataError("not a SentencePiece model: " + take_error(error));
}

Tokenizer::~Tokenizer() {
  if (impl_ && impl_->handle) shim().unload(impl_->handle);
}

std::vector<int32_t> Tokenizer::encode(const std::string& text) const {
  // SentencePiece's lattice costs about 120 bytes per byte of input (a 60 MB transcript
  // took 10 GB), so text is encoded in pieces of at most kChunkBytes, cut at whitespace.
  // No piece spans whitespace (split_by_whitespace), so the ids are those of the whole
  // text; only a run of over kChunkBytes without whitespace gains a word start per cut.
  constexpr size_t kChunkBytes = size_t{64} << 10;
  std::vector<int32_t> out;
  std::string_view rest(text);
  while (!rest.empty()) {
    size_t cut = rest.size();
    if (cut > kChunkBytes) {
      cut = rest.find_last_of(" \t\r\n", kChunkBytes);
      if (cut == std::string_view::npos || cut == 0) {  // no whitespace: a UTF-8 boundary
        cut = kChunkBytes;
        while (cut > 1 && (static_cast<unsigned char>(rest[cut]) & 0xC0) == 0x80) --cut;
      }
    }
    int32_t* ids = nullptr;
    const size_t n = shim().encode(impl_->handle, rest.data(), cut, &ids);
    out.insert(out.end(), ids, ids + n);
    shim().free(ids);
    rest.remove_prefix(cut);
  }
  return out;
}

int Tokenizer::vocab_size() const { return shim().vocab_size(impl_->handle); }

std::string Tokenizer::piece(int id) const { return shim().piece(impl_->handle, id); }

}  // namespace tenor::features
