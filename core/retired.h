#pragma once

/// Why tenor refuses what a removed feature left behind: one wording for every place that meets
/// it (a store, a run, a bundle, a config key, a command-line option), each of which adds its
/// own subject before and its own fix after.

namespace tenor {

/// model.text_embedding and `tenor data build --text-embeddings` (issue 19 item 6).
inline constexpr const char* kSentenceEmbeddingsRemoved =
    "sentence embeddings from a side tool (tools/sentence-embeddings) were removed from tenor on "
    "2026-12-06; pretrained text knowledge comes from model.text_encoder, fine-tuned in tenor "
    "(configs/text-transformer.yaml)";

}  // namespace tenor
