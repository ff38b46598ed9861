// A C interface to SentencePiece, built as its own shared library and loaded with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND) by tokenizer.cpp. Debian's libsentencepiece
// carries a private copy of protobuf-lite whose symbols collide with the libprotobuf
// that LibTorch loads: linked into one process the normal way, protobuf's static
// initialisers call into the wrong copy and crash before main (seen with libtorch
// 1.13 + sentencepiece 0.1.97). Loaded locally and deep-bound, each keeps its own.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

char* copy_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

class Texts : public sentencepiece::SentenceIterator {
 public:
  Texts(const char* const* texts, size_t n) : texts_(texts), n_(n) { skip(); }
  bool done() const override { return i_ >= n_; }
  void Next() override {
    ++i_;
    skip();
  }
  const std::string& value() const override { return current_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void skip() {
    while (i_ < n_ && texts_[i_][0] == '\0') ++i_;
    if (i_ < n_) current_ = texts_[i_];
  }
  const char* const* texts_;
  size_t n_, i_ = 0;
  std::string current_;
};

}  // namespace

extern "C" {

/// Trains a model; `args` are key=value pairs separated by '\n'. Returns 0 and a malloc'ed
/// model in *model/*model_len, or non-zero and a malloc'ed message in *error.
int tenor_spm_train(const char* const* texts, size_t n, const char* args, char** model,
                    size_t* model_len, char** error) {
  std::unordered_map<std::string, std::string> kwargs;
  std::string all = args;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t end = all.find('\n', pos);
    if (end == std::string::npos) end = all.size();
    std::string item = all.substr(pos, end - pos);
    size_t eq = item.find('=');
    if (eq != std::string::npos) kwargs[item.substr(0, eq)] = item.substr(eq + 1);
    pos = end + 1;
  }
  Texts it(texts, n);
  std::string out;
  auto status = sentencepiece::SentencePieceTrainer::Train(kwargs, &it, &out);
  if (!status.ok()) {
    *error = copy_string(status.ToString());
    return 1;
  }
  *model = static_cast<char*>(std::malloc(out.size()));
  std::memcpy(*model, out.data(), out.size());
  *model_len = out.size();
  return 0;
}

void* tenor_spm_load(const char* model, size_t len, char** error) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  auto status = sp->LoadFromSerializedProto(std::string(model, len));
  if (!status.ok()) {
    *error = copy_string(status.ToString());
    delete sp;
    return nullptr;
  }
  return sp;
}

/// Encodes UTF-8 text into ids; returns the count and a malloc'ed array in *ids.
size_t tenor_spm_encode(void* handle, const char* text, size_t len, int32_t** ids) {
  std::vector<int> out;
  static_cast<sentencepiece::SentencePieceProcessor*>(handle)
      ->Encode(std::string(text, len), &out)
      .IgnoreError();
  *ids = static_cast<int32_t*>(std::malloc(std::max<size_t>(1, out.size()) * sizeof(int32_t)));
  for (size_t i = 0; i < out.size(); ++i) (*ids)[i] = out[i];
  return out.size();
}

int tenor_spm_vocab_size(void* handle) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->GetPieceSize();
}

/// The piece of token `id` (e.g. "\xe2\x96\x81word"), owned by the model; "" when out of range.
const char* tenor_spm_piece(void* handle, int id) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  if (id < 0 || id >= sp->GetPieceSize()) return "";
  return sp->IdToPiece(id).c_str();
}

void tenor_spm_unload(void* handle) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(handle);
}

void tenor_spm_free(void* buffer) { std::free(buffer); }

}  // extern "C"
