#include "data/features/wordpiece.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/sha256.h"

namespace tenor::features {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// Hugging Face's BertNormalizer "control": categories Cc, Cf, Co, Cs except tab, newline and
/// carriage return (which are whitespace). Unassigned code points (Cn) are kept.
bool is_control(UChar32 c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  const int8_t t = u_charType(c);
  return t == U_CONTROL_CHAR || t == U_FORMAT_CHAR || t == U_PRIVATE_USE_CHAR ||
         t == U_SURROGATE;
}

/// Unicode White_Space (Rust's char::is_whitespace), tab, newline and carriage return.
bool is_whitespace(UChar32 c) {
  return c == '\t' || c == '\n' || c == '\r' || c == ' ' || u_isUWhiteSpace(c);
}

/// BERT's punctuation: ASCII punctuation (which includes symbols such as $ + < = > ^ ` |) and
/// every Unicode punctuation category (P*).
bool is_punctuation(UChar32 c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126))
    return true;
  switch (u_charType(c)) {
    case U_CONNECTOR_PUNCTUATION:
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

/// The CJK Unified Ideographs blocks BERT treats as one word each.
bool is_cjk(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::u32string code_points(const icu::UnicodeString& s) {
  std::u32string out;
  out.reserve(size_t(s.length()));
  for (int32_t i = 0; i < s.length(); i = s.moveIndex32(i, 1)) out.push_back(s.char32At(i));
  return out;
}

icu::UnicodeString from_code_points(const std::u32string& s) {
  icu::UnicodeString out;
  for (char32_t c : s) out.append(UChar32(c));
  return out;
}

std::string utf8(const std::u32string& s) {
  std::string out;
  from_code_points(s).toUTF8String(out);
  return out;
}

/// The keys of tokenizer.json this class reproduces, read with the file named in errors.
struct Settings {
  bool clean_text = true, chinese = true, strip_accents = true, lowercase = true;
  std::string unk = "[UNK]", prefix = "##", cls = "[CLS]", sep = "[SEP]", pad = "[PAD]";
  size_t max_word_chars = 100;
  /// RobertaProcessing (MPNet): <s> A </s> and <s> A </s> </s> B </s>, every type id 0;
  /// otherwise BERT's TemplateProcessing [CLS] A [SEP] B [SEP], type ids 0 then 1.
  bool roberta = false;
};

/// Splits `text` at the added tokens `tokens` (longest first), leftmost and longest match
/// first, as Hugging Face's AddedVocabulary does: `between(piece, out)` tokenises the text
/// between two matches, and each match appends its id.
template <class Text, class Token, class Between>
void split_at_added(const Text& text, const std::vector<std::pair<Token, int32_t>>& tokens,
                    std::vector<int32_t>& out, Between between) {
  size_t plain = 0, i = 0;
  while (i < text.size()) {
    const std::pair<Token, int32_t>* hit = nullptr;
    for (const auto& a : tokens)
      if (!a.first.empty() && text.compare(i, a.first.size(), a.first) == 0) {
        hit = &a;
        break;
      }
    if (!hit) {
      ++i;
      continue;
    }
    between(text.substr(plain, i - plain), out);
    out.push_back(hit->second);
    i += hit->first.size();
    plain = i;
  }
  between(text.substr(plain), out);
}

}  // namespace

struct WordPieceTokenizer::Impl {
  Settings s;
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::string> tokens;
  std::vector<std::pair<std::string, int32_t>> added;  ///< matched in raw text, longest first
  /// Added tokens marked "normalized", as their content normalises: matched in the normalised
  /// text between the raw matches (Hugging Face's AddedVocabulary), longest first.
  std::vector<std::pair<std::u32string, int32_t>> added_normalized;
  int32_t unk_id = 0, cls_id = 0, sep_id = 0, pad_id = 0;
  std::string sha;

  std::u32string normalize(std::string_view text) const;
  void word_pieces(const std::u32string& word, std::vector<int32_t>& out) const;
  void tokenize_plain(std::string_view text, std::vector<int32_t>& out) const;
  void pre_tokenized_pieces(const std::u32string& norm, std::vector<int32_t>& out) const;
  int32_t id_of(const std::string& token, const std::string& file) const;
};

std::u32string WordPieceTokenizer::Impl::normalize(std::string_view text) const {
  const icu::UnicodeString in = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), int32_t(text.size())));
  std::u32string cleaned;
  for (char32_t c : code_points(in)) {
    if (s.clean_text && (c == 0 || c == 0xFFFD || is_control(UChar32(c)))) continue;
    if (s.clean_text && is_whitespace(UChar32(c))) c = ' ';
    if (s.chinese && is_cjk(UChar32(c))) {
      cleaned += U' ';
      cleaned += c;
      cleaned += U' ';
    } else {
      cleaned += c;
    }
  }
  if (s.strip_accents) {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(status);
    const icu::UnicodeString decomposed = nfd->normalize(from_code_points(cleaned), status);
    if (U_FAILURE(status)) throw std::runtime_error("ICU NFD failed: " + std::string(u_errorName(status)));
    cleaned.clear();
    for (char32_t c : code_points(decomposed))
      if (u_charType(UChar32(c)) != U_NON_SPACING_MARK) cleaned += c;
  }
  if (!s.lowercase) return cleaned;
  // Each code point on its own, as Hugging Face's lowercase (Rust char::to_lowercase): the
  // full mapping without context (a final sigma stays σ).
  std::u32string lower;
  for (char32_t c : cleaned) {
    if (c < 0x80) {
      lower += (c >= 'A' && c <= 'Z') ? c + 32 : c;
      continue;
    }
    icu::UnicodeString one{static_cast<UChar32>(c)};
    lower += code_points(one.toLower(icu::Locale::getRoot()));
  }
  return lower;
}

void WordPieceTokenizer::Impl::word_pieces(const std::u32string& word,
                                           std::vector<int32_t>& out) const {
  if (word.size() > s.max_word_chars) {
    out.push_back(unk_id);
    return;
  }
  std::vector<int32_t> pieces;
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    int32_t found = -1;
    for (; end > start; --end) {
      std::string piece = utf8(word.substr(start, end - start));
      if (start > 0) piece = s.prefix + piece;
      if (auto it = vocab.find(piece); it != vocab.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {  // a part has no piece: the whole word is unknown
      out.push_back(unk_id);
      return;
    }
    pieces.push_back(found);
    start = end;
  }
  out.insert(out.end(), pieces.begin(), pieces.end());
}

void WordPieceTokenizer::Impl::tokenize_plain(std::string_view text,
                                              std::vector<int32_t>& out) const {
  split_at_added(normalize(text), added_normalized, out,
                 [this](const std::u32string& piece, std::vector<int32_t>& o) {
                   pre_tokenized_pieces(piece, o);
                 });
}

/// BertPreTokenizer (whitespace and punctuation) then WordPiece, on normalised text.
void WordPieceTokenizer::Impl::pre_tokenized_pieces(const std::u32string& norm,
                                                    std::vector<int32_t>& out) const {
  std::u32string word;
  auto flush = [&] {
    if (!word.empty()) word_pieces(word, out);
    word.clear();
  };
  for (char32_t c : norm) {
    if (is_whitespace(UChar32(c))) {
      flush();
    } else if (is_punctuation(UChar32(c))) {
      flush();
      word_pieces(std::u32string(1, c), out);
    } else {
      word += c;
    }
  }
  flush();
}

int32_t WordPieceTokenizer::Impl::id_of(const std::string& token, const std::string& file) const {
  auto it = vocab.find(token);
  if (it == vocab.end())
    throw DataError(file + ": the token '" + token + "' is not in model.vocab; the file is " +
                    "damaged or not a BERT tokenizer: fetch the encoder again");
  return it->second;
}

namespace {

void require(bool ok, const std::string& file, const std::string& what) {
  if (!ok)
    throw DataError(file + ": " + what + "; tenor reproduces BERT WordPiece tokenizers only " +
                    "(BertNormalizer, BertPreTokenizer, WordPiece, the [CLS]/[SEP] template or "
                    "RobertaProcessing): use such an encoder (tools/text-encoders/fetch.sh)");
}

/// Reads the normaliser, pre-tokenizer and model settings, refusing what is not reproduced.
Settings read_settings(const json& j, const std::string& file) {
  Settings s;
  const json& n = j.at("normalizer");
  require(n.is_object() && n.value("type", "") == "BertNormalizer", file,
          "normalizer is not BertNormalizer");
  s.clean_text = n.value("clean_text", true);
  s.chinese = n.value("handle_chinese_chars", true);
  s.lowercase = n.value("lowercase", true);
  s.strip_accents = n.contains("strip_accents") && !n.at("strip_accents").is_null()
                        ? n.at("strip_accents").get<bool>()
                        : s.lowercase;  // BERT: accents go with lowercasing unless set
  const json& p = j.at("pre_tokenizer");
  require(p.is_object() && p.value("type", "") == "BertPreTokenizer", file,
          "pre_tokenizer is not BertPreTokenizer");
  const json& m = j.at("model");
  require(m.value("type", "") == "WordPiece", file, "model.type is not WordPiece");
  s.unk = m.at("unk_token");
  s.prefix = m.value("continuing_subword_prefix", "##");
  s.max_word_chars = m.value("max_input_chars_per_word", size_t(100));
  const json& post = j.at("post_processor");
  require(post.is_object(), file, "post_processor is missing");
  if (post.value("type", "") == "RobertaProcessing") {
    s.roberta = true;
    s.cls = post.at("cls").at(0);
    s.sep = post.at("sep").at(0);
    s.pad = "<pad>";
    if (const json pad = j.value("padding", json()); pad.is_object())
      s.pad = pad.value("pad_token", s.pad);
    return s;
  }
  require(post.value("type", "") == "TemplateProcessing", file,
          "post_processor is neither TemplateProcessing nor RobertaProcessing");
  const json& single = post.at("single");
  require(single.size() == 3 && single[0].contains("SpecialToken") &&
              single[2].contains("SpecialToken"),
          file, "post_processor.single is not [CLS] A [SEP]");
  s.cls = single[0]["SpecialToken"]["id"];
  s.sep = single[2]["SpecialToken"]["id"];
  return s;
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(const fs::path& tokenizer_json) : impl_(new Impl) {
  const std::string file = tokenizer_json.string();
  const std::string bytes = read_file(tokenizer_json);
  impl_->sha = sha256_hex(bytes);
  const json j = json::parse(bytes, nullptr, false);
  if (j.is_discarded())
    throw DataError(file + " is not valid JSON; fetch the encoder again (tools/text-encoders/fetch.sh)");
  try {
    impl_->s = read_settings(j, file);
    const json& vocab = j.at("model").at("vocab");
    impl_->tokens.resize(vocab.size());
    for (const auto& [token, id] : vocab.items()) {
      const int32_t i = id.get<int32_t>();
      require(i >= 0 && size_t(i) < vocab.size(), file, "model.vocab has an id outside 0..size-1");
      impl_->vocab[token] = i;
      impl_->tokens[size_t(i)] = token;
    }
    for (const auto& a : j.value("added_tokens", json::array())) {
      const std::string content = a.at("content");
      require(!a.value("single_word", false), file,
              "added token '" + content + "' matches single words only");
      if (a.value("normalized", false))
        impl_->added_normalized.emplace_back(impl_->normalize(content), a.at("id"));
      else
        impl_->added.emplace_back(content, a.at("id"));
    }
  } catch (const json::exception& e) {
    throw DataError(file + ": " + e.what() + "; fetch the encoder again (tools/text-encoders/fetch.sh)");
  }
  auto longest_first = [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); };
  std::sort(impl_->added.begin(), impl_->added.end(), longest_first);
  std::sort(impl_->added_normalized.begin(), impl_->added_normalized.end(), longest_first);
  impl_->unk_id = impl_->id_of(impl_->s.unk, file);
  impl_->cls_id = impl_->id_of(impl_->s.cls, file);
  impl_->sep_id = impl_->id_of(impl_->s.sep, file);
  impl_->pad_id = impl_->vocab.count(impl_->s.pad) ? impl_->vocab.at(impl_->s.pad) : 0;
}

WordPieceTokenizer::~WordPieceTokenizer() = default;
WordPieceTokenizer::WordPieceTokenizer(WordPieceTokenizer&&) noexcept = default;
WordPieceTokenizer& WordPieceTokenizer::operator=(WordPieceTokenizer&&) noexcept = default;

std::vector<int32_t> WordPieceTokenizer::tokenize(std::string_view text) const {
  // Added (special) tokens are matched in the raw text first; those marked "normalized" then
  // in the normalised text between them (tokenize_plain).
  std::vector<int32_t> out;
  split_at_added(text, impl_->added, out, [this](std::string_view piece, std::vector<int32_t>& o) {
    impl_->tokenize_plain(piece, o);
  });
  return out;
}

WordPieceTokenizer::Encoding WordPieceTokenizer::encode(std::string_view text,
                                                        std::optional<std::string_view> pair,
                                                        size_t max_length) const {
  std::optional<std::vector<int32_t>> b;
  if (pair) b = tokenize(*pair);
  return encode_ids(tokenize(text), std::move(b), max_length);
}

WordPieceTokenizer::Encoding WordPieceTokenizer::encode_ids(
    std::vector<int32_t> a, std::optional<std::vector<int32_t>> pair, size_t max_length) const {
  std::vector<int32_t> b = pair ? std::move(*pair) : std::vector<int32_t>{};
  const size_t specials = pair ? (impl_->s.roberta ? 4 : 3) : 2;
  if (max_length > 0) {
    const size_t budget = max_length > specials ? max_length - specials : 0;
    if (!pair) {
      a.resize(std::min(a.size(), budget));
    } else if (a.size() + b.size() > budget) {
      // Hugging Face's LongestFirst: the shorter sequence keeps up to half the budget, the
      // longer one the rest (the first sequence counts as the shorter on a tie).
      auto& shorter = a.size() > b.size() ? b : a;
      auto& longer = a.size() > b.size() ? a : b;
      shorter.resize(std::min(shorter.size(), budget / 2));
      longer.resize(std::min(longer.size(), budget - shorter.size()));
    }
  }
  Encoding e;
  e.ids.push_back(impl_->cls_id);
  e.ids.insert(e.ids.end(), a.begin(), a.end());
  e.ids.push_back(impl_->sep_id);
  e.type_ids.assign(e.ids.size(), 0);
  e.first_length = e.ids.size();
  if (pair) {
    if (impl_->s.roberta) e.ids.push_back(impl_->sep_id);
    e.ids.insert(e.ids.end(), b.begin(), b.end());
    e.ids.push_back(impl_->sep_id);
    e.type_ids.resize(e.ids.size(), impl_->s.roberta ? 0 : 1);
  }
  return e;
}

int WordPieceTokenizer::vocab_size() const { return int(impl_->tokens.size()); }
int32_t WordPieceTokenizer::pad_id() const { return impl_->pad_id; }
const std::string& WordPieceTokenizer::sha256() const { return impl_->sha; }

std::string WordPieceTokenizer::token(int32_t id) const {
  return id >= 0 && size_t(id) < impl_->tokens.size() ? impl_->tokens[size_t(id)] : "";
}

}  // namespace tenor::features
