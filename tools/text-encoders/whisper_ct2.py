"""Whisper's audio encoder (Radford et al. 2022) in plain torch, its weights read from a
CTranslate2 model.bin (the layout of faster-whisper's models), for the speech-encoder probe of
bench/speech_probe.sh; reference() loads the same weights into Hugging Face `transformers`'
WhisperEncoder, the reference of tenor's native one (train/speech_encoder.h, reference.py)."""
import struct

import numpy as np
import torch
import torch.nn.functional as F

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(data):
    """Every variable of a CTranslate2 model.bin (binary version 6), by name."""
    offset = 0

    def take(fmt):
        nonlocal offset
        (value,) = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return value

    def string():
        nonlocal offset
        n = take("<H")
        value = data[offset:offset + n - 1].decode()
        offset += n
        return value

    version = take("<I")
    if version != 6:
        raise SystemExit(f"whisper_ct2: model.bin has binary version {version}; this reads 6")
    string(), take("<I")  # spec name, revision
    variables = {}
    for _ in range(take("<I")):
        name = string()
        shape = [take("<I") for _ in range(take("<B"))]
        dtype = np.dtype(_DTYPES[take("<B")])
        nbytes = take("<I")
        values = np.frombuffer(data, dtype, nbytes // dtype.itemsize, offset)
        variables[name] = values.reshape(shape)
        offset += nbytes
    return variables


class WhisperEncoder:
    """Two GELU convolutions, sinusoidal positions, pre-LayerNorm blocks, a final LayerNorm."""

    def __init__(self, model_bin):
        variables = read_ct2(model_bin)
        self.w = {k[len("encoder/"):]: torch.from_numpy(v.astype(np.float32))
                  for k, v in variables.items()
                  if k.startswith("encoder/") and v.dtype in (np.float16, np.float32)}
        self.heads = int(variables["encoder/num_heads"])
        self.layers = sum(k.endswith("self_attention/linear_1/weight") for k in self.w)

    def __call__(self, mel):
        """mel [B, 80, T] -> hidden states [B, T / 2, D]."""
        w = self.w
        x = F.gelu(F.conv1d(mel, w["conv1/weight"], w["conv1/bias"], padding=1))
        x = F.gelu(F.conv1d(x, w["conv2/weight"], w["conv2/bias"], stride=2, padding=1))
        x = x.transpose(1, 2) + w["position_encodings/encodings"][: mel.shape[2] // 2]
        rows, length, width = x.shape
        for i in range(self.layers):
            p = f"layer_{i}/"
            y = F.layer_norm(x, (width,), w[p + "self_attention/layer_norm/gamma"],
                             w[p + "self_attention/layer_norm/beta"])
            qkv = F.linear(y, w[p + "self_attention/linear_0/weight"],
                           w[p + "self_attention/linear_0/bias"])
            q, k, v = qkv.view(rows, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(x.shape)
            x = x + F.linear(a, w[p + "self_attention/linear_1/weight"],
                             w[p + "self_attention/linear_1/bias"])
            y = F.layer_norm(x, (width,), w[p + "ffn/layer_norm/gamma"],
                             w[p + "ffn/layer_norm/beta"])
            y = F.gelu(F.linear(y, w[p + "ffn/linear_0/weight"], w[p + "ffn/linear_0/bias"]))
            x = x + F.linear(y, w[p + "ffn/linear_1/weight"], w[p + "ffn/linear_1/bias"])
        return F.layer_norm(x, (width,), w["layer_norm/gamma"], w["layer_norm/beta"])

    def reference(self):
        """transformers' WhisperEncoder with these weights, in eval mode."""
        from transformers import WhisperConfig
        from transformers.models.whisper.modeling_whisper import WhisperEncoder as Reference
        w, width = self.w, self.w["conv1/bias"].shape[0]
        config = WhisperConfig(d_model=width, encoder_layers=self.layers,
                               encoder_attention_heads=self.heads,
                               encoder_ffn_dim=w["layer_0/ffn/linear_0/bias"].shape[0],
                               num_mel_bins=w["conv1/weight"].shape[1],
                               max_source_positions=w["position_encodings/encodings"].shape[0])
        state = {"embed_positions.weight": w["position_encodings/encodings"],
                 "layer_norm.weight": w["layer_norm/gamma"],
                 "layer_norm.bias": w["layer_norm/beta"]}
        for conv in ("conv1", "conv2"):
            state[f"{conv}.weight"], state[f"{conv}.bias"] = w[f"{conv}/weight"], w[f"{conv}/bias"]
        for i in range(self.layers):
            p, q = f"layer_{i}/", f"layers.{i}."
            for name, (weight, bias) in zip("qkv", zip(
                    w[p + "self_attention/linear_0/weight"].chunk(3),
                    w[p + "self_attention/linear_0/bias"].chunk(3))):
                state[f"{q}self_attn.{name}_proj.weight"] = weight
                if name != "k":  # Whisper's keys have no bias (CTranslate2 stores zeros)
                    state[f"{q}self_attn.{name}_proj.bias"] = bias
            for ours, theirs in (("self_attention/linear_1", "self_attn.out_proj"),
                                 ("ffn/linear_0", "fc1"), ("ffn/linear_1", "fc2")):
                state[q + theirs + ".weight"] = w[p + ours + "/weight"]
                state[q + theirs + ".bias"] = w[p + ours + "/bias"]
            for ours, theirs in (("self_attention/layer_norm", "self_attn_layer_norm"),
                                 ("ffn/layer_norm", "final_layer_norm")):
                state[q + theirs + ".weight"] = w[p + ours + "/gamma"]
                state[q + theirs + ".bias"] = w[p + ours + "/beta"]
        reference = Reference(config).eval()
        reference.load_state_dict(state, strict=True)
        return reference

    def check(self):
        """Largest difference from transformers' WhisperEncoder on 30 s of random log-mel."""
        reference = self.reference()
        mel = torch.randn(2, reference.config.num_mel_bins,
                          2 * reference.config.max_source_positions,
                          generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            return (reference(mel).last_hidden_state - self(mel)).abs().max().item()
