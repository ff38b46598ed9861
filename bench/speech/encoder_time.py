"""Time of Hugging Face `transformers`' WhisperFeatureExtractor and WhisperEncoder per clip on
the work bench/speech/encoder_time.cpp times for tenor (Whisper tiny.en's weights, batches of 8
random 2.4 s clips padded to 30 s, the mean over each clip's frames, one warm-up batch).
    encoder_time.py ENCODER_DIR CLIPS THREADS -> one JSON line"""
import json
import os
import resource
import sys
import time

import numpy as np
import torch
from transformers import WhisperFeatureExtractor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools",
                                "text-encoders"))
from whisper_ct2 import WhisperEncoder  # noqa: E402


def main(encoder_dir, clips, threads):
    torch.set_num_threads(int(threads))
    with open(os.path.join(encoder_dir, "model.bin"), "rb") as f:
        encoder = WhisperEncoder(f.read()).reference()
    features = WhisperFeatureExtractor(feature_size=80)
    rng = np.random.default_rng(1)
    batch, samples = 8, 38224
    frames = (samples // 160 + 1) // 2

    def run():
        audio = list((0.1 * rng.standard_normal((batch, samples))).astype(np.float32))
        start = time.perf_counter()
        mel = torch.from_numpy(features(audio, sampling_rate=16000,
                                        return_tensors="np").input_features)
        with torch.no_grad():
            pooled = encoder(mel).last_hidden_state[:, :frames].mean(1)
        assert torch.isfinite(pooled).all()
        return time.perf_counter() - start

    run()  # warm-up
    seconds, done = 0.0, 0
    while done < int(clips):
        seconds += run()
        done += batch
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ms_per_clip": round(seconds / done * 1000, 1), "clips": done,
                      "peak_rss_mb": round(peak)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
