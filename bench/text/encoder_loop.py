"""The fine-tuning step of bench/text/encoder_step.cpp as a plain Python loop with Hugging Face
`transformers` (its default attention implementation): encoder, mean pooling over the tokens,
a linear head, cross-entropy, backward, gradient clipping, AdamW; fixed random batches, timed
after warm-up steps. Prints one JSON line. With BATCHES.jsonl (transcript_batches.py) the steps
take those batches of real transcripts in turn, each padded to its longest row (what a data
collator with dynamic padding does). With PRECISION=bf16 in the environment, the forward pass
and the loss run under torch.autocast("cpu", dtype=torch.bfloat16). With TRAINABLE=N, only the
top N blocks train (the embeddings and the blocks below are frozen: requires_grad off, as a
Python user freezes layers; they still run every step).
  python encoder_loop.py ENCODER_DIR BATCH LENGTH STEPS THREADS [BATCHES.jsonl]"""
import json
import os
import resource
import sys
import time

import torch
from transformers import AutoModel
from transformers.utils import logging

logging.set_verbosity_error()  # transformers 5 reports the unused pooler on every load
logging.disable_progress_bar()


def transcript_batch(j):
    """One line of transcript_batches.py as padded tensors."""
    b, width = len(j["ids"]), max(len(r) for r in j["ids"])
    ids = torch.zeros(b, width, dtype=torch.long)
    types = torch.zeros(b, width, dtype=torch.long)
    mask = torch.zeros(b, width, dtype=torch.long)
    for i, (row, row_types) in enumerate(zip(j["ids"], j["type_ids"])):
        ids[i, :len(row)] = torch.tensor(row)
        types[i, :len(row)] = torch.tensor(row_types)
        mask[i, :len(row)] = 1
    return ids, types, mask, torch.randint(0, 3, (b,))


def main():
    encoder_dir, batch, length, steps, threads = sys.argv[1], *map(int, sys.argv[2:6])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    encoder = AutoModel.from_pretrained(encoder_dir, add_pooling_layer=False)  # BERT or MPNet
    encoder.train()
    head = torch.nn.Linear(encoder.config.hidden_size, 3)
    trainable = int(os.environ.get("TRAINABLE", "-1"))
    if trainable >= 0:
        blocks = encoder.encoder.layer
        for p in encoder.parameters():
            p.requires_grad_(False)
        for block in blocks[len(blocks) - trainable:]:
            for p in block.parameters():
                p.requires_grad_(True)
    params = [p for p in encoder.parameters() if p.requires_grad] + list(head.parameters())
    fused = os.environ.get("OPTIMIZER", "default") == "fused"
    optimizer = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.01, fused=fused or None)
    if len(sys.argv) > 6:
        batches = [transcript_batch(json.loads(line)) for line in open(sys.argv[6])]
    else:
        batches = [(torch.randint(1000, 29000, (batch, length)),
                    torch.zeros(batch, length, dtype=torch.long),
                    torch.ones(batch, length, dtype=torch.long), torch.randint(0, 3, (batch,)))]
    bf16 = os.environ.get("PRECISION") == "bf16"
    warmup, sequences = 3, 0
    for s in range(warmup + steps):
        if s == warmup:
            start = time.perf_counter()
        ids, types, mask, labels = batches[s % len(batches)]
        if s >= warmup:
            sequences += ids.shape[0]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            inputs = {"input_ids": ids, "attention_mask": mask}
            if getattr(encoder.config, "type_vocab_size", 0):  # MPNet has no token types
                inputs["token_type_ids"] = types
            hidden = encoder(**inputs).last_hidden_state
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
            loss = torch.nn.functional.cross_entropy(head(pooled).float(), labels)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
    seconds = time.perf_counter() - start
    print(json.dumps({"sequences_per_s": sequences / seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "torch": torch.__version__,
                      "attention": encoder.config._attn_implementation,
                      "precision": "bf16" if bf16 else "fp32"}))


if __name__ == "__main__":
    main()
