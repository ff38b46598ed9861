"""Reference outputs of Hugging Face libraries for tenor's tests (see reference.sh)."""
import json
import sys

from tokenizers import Tokenizer


def ids(encoder_dir):
    tok = Tokenizer.from_file(encoder_dir + "/tokenizer.json")
    tok.no_truncation()
    tok.no_padding()
    for line in sys.stdin:
        if not line.strip():
            continue
        item = json.loads(line)
        if item.get("max_length"):
            tok.enable_truncation(item["max_length"])
        else:
            tok.no_truncation()
        enc = tok.encode(item["text"], item.get("pair"), add_special_tokens=True)
        sys.stdout.write(json.dumps({"ids": enc.ids, "type_ids": enc.type_ids}) + "\n")


def encode(encoder_dir, batch_json, out_json):
    """Last hidden states and mean-pooled vectors of a batch of token ids with Hugging Face
    transformers (fp32, CPU, eval mode): {"ids", "type_ids", "mask"} [B][L] in, {"hidden"
    [B][L][H], "pooled" [B][H]} out."""
    import torch
    from transformers import AutoModel

    batch = json.load(open(batch_json))
    model = AutoModel.from_pretrained(encoder_dir, dtype=torch.float32)
    model.eval()
    ids = torch.tensor(batch["ids"], dtype=torch.long)
    types = torch.tensor(batch["type_ids"], dtype=torch.long)
    mask = torch.tensor(batch["mask"], dtype=torch.long)
    inputs = {"input_ids": ids, "attention_mask": mask}
    if getattr(model.config, "type_vocab_size", 0):  # BERT; MPNet has no token types
        inputs["token_type_ids"] = types
    with torch.no_grad():
        hidden = model(**inputs).last_hidden_state
    m = mask.unsqueeze(-1).float()
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    json.dump({"hidden": hidden.tolist(), "pooled": pooled.tolist(),
               "transformers": __import__("transformers").__version__,
               "torch": torch.__version__}, open(out_json, "w"))


def whisper(encoder_dir, audio_json, out_json):
    """Whisper's log-mel (WhisperFeatureExtractor, each clip padded to 30 s) and encoder states
    (WhisperEncoder, fp32, CPU) of 16 kHz clips, with the weights of ENCODER_DIR/model.bin:
    {"audio" [B][S], "samples" [B], "frames": F} in; {"mel" [B][80][3000], "states" [B][F][D]
    (the first F frames), "pooled" [B][D] (the mean over each clip's own frames)} out."""
    import os
    import torch
    from transformers import WhisperFeatureExtractor
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from whisper_ct2 import WhisperEncoder

    item = json.load(open(audio_json))
    clips = [a[:n] for a, n in zip(item["audio"], item["samples"])]
    features = WhisperFeatureExtractor(feature_size=80)
    mel = torch.from_numpy(features(clips, sampling_rate=16000, return_tensors="np").input_features)
    with open(os.path.join(encoder_dir, "model.bin"), "rb") as f:
        reference = WhisperEncoder(f.read()).reference()
    with torch.no_grad():
        states = reference(mel).last_hidden_state
    pooled = [states[b, :max(1, (n // 160 + 1) // 2)].mean(0).tolist()
              for b, n in enumerate(item["samples"])]
    json.dump({"mel": mel.tolist(), "states": states[:, :item["frames"]].tolist(),
               "pooled": pooled, "transformers": __import__("transformers").__version__},
              open(out_json, "w"))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"ids": ids, "encode": encode, "whisper": whisper}[command](*args)
