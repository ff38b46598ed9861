#pragma once
// Sentence embeddings computed outside tenor (tools/sentence-embeddings: a pretrained
// encoder), one vector per segment, attached to a feature store by
// `tenor data build --text-embeddings FILE` (format in docs/feature-store.md).

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "data/features/store.h"

namespace tenor::features {

/// Format name of the header line of a text-embeddings file.
inline constexpr const char* kTextEmbeddingsFormat = "tenor-text-embeddings-1";

/// A text-embeddings file read into memory.
struct TextEmbeddings {
  std::filesystem::path source;
  std::string encoder;  ///< what computed the vectors (the header's "encoder")
  int dim = 0;
  /// (call_id, segment index) -> the line it came from, and its vector.
  std::map<std::pair<std::string, int>, std::pair<int64_t, std::vector<float>>> vectors;
};

/// Reads a text-embeddings file: a header line {"format", "encoder", "dim"}, then one
/// {"call_id", "segment", "vector"} line per segment. Throws DataError naming the file,
/// the line, the value and the fix (not JSON, a missing or mistyped key, a vector of
/// another length, a value that is not finite, a segment given twice).
TextEmbeddings read_text_embeddings(const std::filesystem::path& file);

/// The vectors of `segments` in their order, [N, dim] row-major. Throws DataError naming
/// the file and the first call and segment without a vector.
std::vector<float> align_text_embeddings(const TextEmbeddings& embeddings,
                                         const std::vector<StoreSegment>& segments);

}  // namespace tenor::features
