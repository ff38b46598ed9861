#include "data/features/text_embeddings.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/json_line.h"
#include "data/line_reader.h"

namespace tenor::features {
namespace fs = std::filesystem;

TextEmbeddings read_text_embeddings(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw DataError("text embeddings " + file.string() +
                    " do not exist; write them with tools/sentence-embeddings/embed.sh DATASET " +
                    file.string());
  TextEmbeddings out;
  out.source = file;
  data::LineReader reader(file, size_t{64} << 20);
  data::LineReader::Line line;
  const std::string regenerate = "; write the file again with tools/sentence-embeddings/embed.sh";
  auto where = [&] { return file.string() + ":" + std::to_string(line.number) + ": "; };
  bool header = false;
  while (reader.next(line)) {
    if (line.too_long) throw DataError(where() + "line longer than 64 MiB" + regenerate);
    if (line.text.find_first_not_of(" \t") == std::string_view::npos) continue;
    nlohmann::json j;
    if (auto problem = data::parse_json_line(line.text, j))
      throw DataError(where() + problem->message + regenerate);
    if (!j.is_object()) throw DataError(where() + "expected a JSON object" + regenerate);
    if (!header) {
      header = true;
      const auto format = j.value("format", std::string());
      if (format != kTextEmbeddingsFormat)
        throw DataError(where() + "the first line must be the header {\"format\": \"" +
                        kTextEmbeddingsFormat + "\", \"encoder\": ..., \"dim\": N}, found " +
                        j.dump().substr(0, 120) + regenerate);
      if (!j.contains("encoder") || !j["encoder"].is_string() ||
          j["encoder"].get<std::string>().empty())
        throw DataError(where() + "the header names no \"encoder\" (what computed the vectors)" +
                        regenerate);
      if (!j.contains("dim") || !j["dim"].is_number_integer() || j["dim"].get<int64_t>() < 1 ||
          j["dim"].get<int64_t>() > 65536)
        throw DataError(where() + "the header's \"dim\" must be an integer in [1, 65536], found " +
                        (j.contains("dim") ? j["dim"].dump() : std::string("none")) + regenerate);
      out.encoder = j["encoder"].get<std::string>();
      out.dim = j["dim"].get<int>();
      continue;
    }
    if (!j.contains("call_id") || !j["call_id"].is_string())
      throw DataError(where() + "\"call_id\" must be a string" + regenerate);
    if (!j.contains("segment") || !j["segment"].is_number_integer() ||
        j["segment"].get<int64_t>() < 0)
      throw DataError(where() + "\"segment\" must be the segment's index in its call (0, 1, ...)" +
                      regenerate);
    if (!j.contains("vector") || !j["vector"].is_array())
      throw DataError(where() + "\"vector\" must be an array of " + std::to_string(out.dim) +
                      " numbers" + regenerate);
    const auto& v = j["vector"];
    if (v.size() != size_t(out.dim))
      throw DataError(where() + "\"vector\" has " + std::to_string(v.size()) +
                      " values, the header says dim " + std::to_string(out.dim) + regenerate);
    std::vector<float> values(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_number() || !std::isfinite(v[i].get<double>()))
        throw DataError(where() + "value " + std::to_string(i) + " of \"vector\" is " +
                        v[i].dump() + ", not a finite number" + regenerate);
      values[i] = v[i].get<float>();
    }
    auto key = std::make_pair(j["call_id"].get<std::string>(), j["segment"].get<int>());
    auto [it, inserted] = out.vectors.try_emplace(key, line.number, std::move(values));
    if (!inserted)
      throw DataError(where() + "call " + key.first + " segment " + std::to_string(key.second) +
                      " already has a vector on line " + std::to_string(it->second.first) +
                      "; keep one line per segment" + regenerate);
  }
  if (!header)
    throw DataError(file.string() + " is empty; write it with tools/sentence-embeddings/embed.sh");
  return out;
}

std::vector<float> align_text_embeddings(const TextEmbeddings& e,
                                         const std::vector<StoreSegment>& segments) {
  std::vector<float> out;
  out.reserve(segments.size() * size_t(e.dim));
  for (const auto& s : segments) {
    auto it = e.vectors.find({s.call_id, s.segment});
    if (it == e.vectors.end())
      throw DataError(e.source.string() + " has no vector for call " + s.call_id + " segment " +
                      std::to_string(s.segment) +
                      "; it was written for another dataset or version of it: write it again "
                      "with tools/sentence-embeddings/embed.sh DATASET " +
                      e.source.string());
    out.insert(out.end(), it->second.second.begin(), it->second.second.end());
  }
  return out;
}

}  // namespace tenor::features
