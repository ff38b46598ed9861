#!/usr/bin/env python3
"""The same fusion model and batches as `tenor train`, written as a plain PyTorch
training loop: the reference for bench/train_bench.sh. Reads the tenor feature store
with h5py, normalises with training-split statistics, pads batches like
train/data.cpp, and trains with AdamW + clipping. Prints segments/s of training
(excluding the first epoch, which warms up allocators) as one JSON line."""
import argparse, json, math, time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def text(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def strings(ds):
    return [x.decode() if isinstance(x, bytes) else x for x in ds[:]]


class Pool(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.score = nn.Linear(dim, 1, bias=False)  # softmax over time is shift-invariant

    def forward(self, h, lengths):
        mask = torch.arange(h.shape[1])[None, :] < lengths[:, None]
        s = self.score(h).squeeze(-1).masked_fill(~mask, -1e9)
        w = torch.softmax(s, 1) * mask.to(h.dtype)
        return (w.unsqueeze(-1) * h).sum(1)


def run_gru(gru, x, lengths):
    packed = pack_padded_sequence(x, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
    out, _ = gru(packed)
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]


class Prosody(nn.Module):
    def __init__(self, features, a):
        super().__init__()
        half = a.hidden // 2 + a.hidden % 2
        self.conv = nn.Conv1d(features, a.conv_channels, 5, padding=2)
        self.gru = nn.GRU(a.conv_channels, half, batch_first=True, bidirectional=True)
        self.pool = Pool(2 * half)
        self.proj = nn.Linear(2 * half, a.hidden)

    def forward(self, frames, lengths):
        x = torch.relu(self.conv(frames.transpose(1, 2))).transpose(1, 2)
        return torch.relu(self.proj(self.pool(run_gru(self.gru, x, lengths), lengths)))


class Text(nn.Module):
    def __init__(self, vocab, a):
        super().__init__()
        half = a.hidden // 2 + a.hidden % 2
        self.embed = nn.Embedding(vocab, a.embedding_dim, padding_idx=0)
        self.gru = nn.GRU(a.embedding_dim, half, batch_first=True, bidirectional=True)
        self.pool = Pool(2 * half)
        self.proj = nn.Linear(2 * half, a.hidden)

    def forward(self, tokens, lengths):
        return torch.relu(self.proj(self.pool(run_gru(self.gru, self.embed(tokens), lengths), lengths)))


class Fusion(nn.Module):
    def __init__(self, lld, func, vocab, tasks, a):
        super().__init__()
        self.prosody = Prosody(lld, a)
        self.functionals = nn.Linear(2 * func, a.hidden)
        self.text = Text(vocab, a) if vocab else None
        self.gate = nn.Linear(3 * a.hidden, 3)
        self.norm = nn.LayerNorm(a.hidden)
        self.dropout = nn.Dropout(a.dropout)
        self.heads = nn.ModuleList(nn.Linear(a.hidden, 1 if t["type"] != "categorical" else t["k"]) for t in tasks)
        self.bias = [nn.Parameter(torch.linspace(1, -1, t["k"] - 1)) if t["type"] == "ordinal" else None for t in tasks]
        for i, b in enumerate(self.bias):
            if b is not None:
                self.register_parameter(f"bias_{i}", b)
        self.tasks, self.hidden, self.md = tasks, a.hidden, a.modality_dropout

    def forward(self, b):
        n = b["labels"].shape[0]
        ep = self.prosody(b["frames"], b["frame_len"])
        ef = torch.relu(self.functionals(torch.cat([b["func"], b["mask"]], 1)))
        et = self.text(b["tokens"], b["token_len"]) if self.text is not None else torch.zeros(n, self.hidden)
        avail = torch.stack([(b["frame_len"] > 0).float(), (b["mask"].sum(1) > 0).float(), (b["token_len"] > 0).float()], 1)
        if self.training and self.md > 0:
            drop_row = (torch.rand(n) < self.md) & (avail.sum(1) >= 2)
            pick = torch.multinomial(avail + 1e-6, 1).squeeze(1)
            avail = avail * (1 - F.one_hot(pick, 3).float() * drop_row[:, None].float())
        embs = torch.stack([ep, ef, et], 1)
        gates = self.gate(torch.cat([ep, ef, et], 1))
        out = []
        for t, head, bias in zip(self.tasks, self.heads, self.bias):
            a = avail * torch.tensor(t["allowed"])[None, :]
            w = torch.softmax(gates.masked_fill(a == 0, -1e9), 1) * a
            h = self.dropout(self.norm((w.unsqueeze(-1) * embs).sum(1)))
            z = head(h)
            out.append(z + bias[None, :] if bias is not None else z)
        return out


def loss_for(t, z, y, w):
    rows = y >= 0
    if rows.sum() == 0:
        return None
    z, y = z[rows], y[rows]
    if t["type"] == "binary":
        per = F.binary_cross_entropy_with_logits(z.squeeze(-1), y.float(), reduction="none")
    elif t["type"] == "categorical":
        per = -torch.log_softmax(z, 1).gather(1, y[:, None]).squeeze(1)
    else:
        target = (y[:, None] > torch.arange(t["k"] - 1)[None, :]).float()
        per = F.binary_cross_entropy_with_logits(z, target, reduction="none").sum(1)
    wt = w[y]
    return (per * wt).sum() / wt.sum()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--store", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--conv-channels", type=int, default=64)
    p.add_argument("--embedding-dim", type=int, default=64)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--modality-dropout", type=float, default=0.2)
    p.add_argument("--max-frames", type=int, default=1500)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--use-text", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (torch >= 2.0 on CUDA)")
    p.add_argument("--bf16", type=int, default=0, help="bf16 autocast, as tenor's bf16: true")
    a = p.parse_args()
    cuda = a.device.startswith("cuda")
    if cuda:
        torch.set_default_device(a.device)  # the model's and the loop's own tensors
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    f = h5py.File(a.store, "r")
    import yaml
    schema = yaml.safe_load(text(f.attrs["schema_yaml"]))
    task_names = text(f["labels"].attrs["tasks"]).split("\n")
    tasks = []
    for name in task_names:
        s = schema["labels"][name]
        voice = s["speaker"] != "agent"
        tasks.append({"name": name, "type": s["type"], "k": len(s["classes"]),
                      "allowed": [float(voice), float(voice), float(bool(a.use_text))]})
    split = strings(f["segments/split"])
    labels = np.stack([f["labels"][t][:] for t in task_names], 1)
    train = [i for i in range(len(split)) if (labels[i] >= 0).any() and split[i] in ("train", "")]
    lld, off = f["frames/lld"][:], f["frames/offsets"][:]
    func, fmask = f["functionals/values"][:], f["functionals/mask"][:]
    tok, toff = f["tokens/ids"][:], f["tokens/offsets"][:]
    model_bytes = f["tokenizer/sentencepiece_model"][:]
    vocab = 0
    if a.use_text and len(tok):
        vocab = int(tok.max()) + 1
    rows = np.concatenate([np.arange(off[i], off[i + 1]) for i in train]) if train else np.array([], int)
    lmean, lstd = lld[rows].mean(0), np.sqrt(np.maximum(lld[rows].var(0), 1e-8))
    fm = fmask[train].astype(bool)
    fsum = np.where(fm, func[train], 0).sum(0)
    fcnt = np.maximum(fm.sum(0), 1)
    fmean = fsum / fcnt
    fvar = np.where(fm, (func[train] - fmean) ** 2, 0).sum(0) / fcnt
    fstd = np.sqrt(np.maximum(fvar, 1e-8))
    weights = []
    for k, t in enumerate(tasks):
        y = labels[train, k]
        y = y[y >= 0]
        counts = np.maximum(np.bincount(y, minlength=t["k"]), 1)
        weights.append(torch.tensor(len(y) / (t["k"] * counts), dtype=torch.float32))

    def batch(idx):
        b = len(idx)
        tl = [min(a.max_frames, off[i + 1] - off[i]) for i in idx]
        kl = [min(a.max_tokens, toff[i + 1] - toff[i]) for i in idx]
        T, L = max(1, max(tl)), max(1, max(kl))
        frames = np.zeros((b, T, lld.shape[1]), np.float32)
        tokens = np.zeros((b, L), np.int64)
        for j, i in enumerate(idx):
            frames[j, :tl[j]] = (lld[off[i]:off[i] + tl[j]] - lmean) / lstd
            tokens[j, :kl[j]] = tok[toff[i]:toff[i] + kl[j]]
        m = fmask[idx].astype(np.float32)
        v = np.clip(np.where(m > 0, (func[idx] - fmean) / fstd, 0), -10, 10).astype(np.float32)
        return {k: v.to(a.device) for k, v in {
                "frames": torch.from_numpy(frames), "frame_len": torch.tensor(tl), "func": torch.from_numpy(v),
                "mask": torch.from_numpy(m), "tokens": torch.from_numpy(tokens),
                "token_len": torch.tensor(kl) if a.use_text else torch.zeros(b, dtype=torch.long),
                "labels": torch.from_numpy(labels[idx].astype(np.int64))}.items()}

    model = Fusion(lld.shape[1], func.shape[1], vocab, tasks, a)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    model.train()
    rng = np.random.default_rng(1)
    timed_segments, timed_seconds, data_seconds = 0, 0.0, 0.0
    for epoch in range(a.epochs):
        order = rng.permutation(train)
        start = time.perf_counter()
        seen = 0
        for s in range(0, len(order), a.batch_size):
            t0 = time.perf_counter()
            b = batch(order[s:s + a.batch_size])
            data_seconds += (time.perf_counter() - t0) if epoch > 0 else 0
            with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16,
                                enabled=bool(a.bf16)):
                out = model(b)
                loss = None
                for k, t in enumerate(tasks):
                    l = loss_for(t, out[k].float(), b["labels"][:, k], weights[k])
                    if l is not None:
                        loss = l if loss is None else loss + l
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            seen += len(b["labels"])
        if cuda:
            torch.cuda.synchronize()
        if epoch > 0:
            timed_seconds += time.perf_counter() - start
            timed_segments += seen
    print(json.dumps({"segments_per_s": timed_segments / timed_seconds if timed_seconds else 0,
                      "data_wait_share": data_seconds / timed_seconds if timed_seconds else 0,
                      "epochs_timed": a.epochs - 1, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
