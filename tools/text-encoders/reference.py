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


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"ids": ids}[command](*args)
