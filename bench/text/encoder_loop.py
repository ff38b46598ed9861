"""The fine-tuning step of bench/text/encoder_step.cpp as a plain Python loop with Hugging Face
`transformers` (its default attention implementation): encoder, mean pooling over the tokens,
a linear head, cross-entropy, backward, gradient clipping, AdamW; fixed random batches, timed
after warm-up steps. Prints one JSON line.
  python encoder_loop.py ENCODER_DIR BATCH LENGTH STEPS THREADS"""
import json
import resource
import sys
import time

import torch
from transformers import BertModel


def main():
    encoder_dir, batch, length, steps, threads = sys.argv[1], *map(int, sys.argv[2:6])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    encoder = BertModel.from_pretrained(encoder_dir, add_pooling_layer=False)
    encoder.train()
    head = torch.nn.Linear(encoder.config.hidden_size, 3)
    params = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.01)
    ids = torch.randint(1000, 29000, (batch, length))
    types = torch.zeros(batch, length, dtype=torch.long)
    mask = torch.ones(batch, length, dtype=torch.long)
    labels = torch.randint(0, 3, (batch,))
    warmup = 3
    for s in range(warmup + steps):
        if s == warmup:
            start = time.perf_counter()
        hidden = encoder(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
        loss = torch.nn.functional.cross_entropy(head(pooled), labels)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
    seconds = time.perf_counter() - start
    print(json.dumps({"sequences_per_s": batch * steps / seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "torch": torch.__version__,
                      "attention": encoder.config._attn_implementation}))


if __name__ == "__main__":
    main()
