"""The character tokenizer of the course skeleton: 35 tokens, fixed-length targets.

Tokens: ``<`` start (0), ``>`` end (1), ``@`` padding (2), ``#`` unknown (3), then
space , . ? - and a-z.  Text is lowercased and cut to 97 characters; a training
target is ``<text>`` padded with ``@`` to 99 tokens.
"""

from __future__ import annotations

import torch

SOS, EOS, PAD, UNK = 0, 1, 2, 3
ALPHABET = "<>@# ,.?-" + "abcdefghijklmnopqrstuvwxyz"
VOCAB_SIZE = len(ALPHABET)  # 35
MAX_CHARS = 97
TARGET_LEN = MAX_CHARS + 2  # 99: <, up to 97 characters, >, then @ padding
DECODER_LEN = TARGET_LEN - 1  # 98: the decoder reads text[:, :-1] and predicts text[:, 1:]

_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}


def normalize_text(text: str) -> str:
    """Return ``text`` as the model sees it: lowercased and cut to 97 characters."""
    return text.lower()[:MAX_CHARS]


def encode(text: str) -> list[int]:
    """Return the token ids of ``<text>`` (lowercased, cut, unknown characters as ``#``), unpadded."""
    return [SOS] + [_INDEX.get(ch, UNK) for ch in normalize_text(text)] + [EOS]


def encode_batch(texts: list[str], length: int = TARGET_LEN) -> torch.Tensor:
    """Return a (b, length) int64 tensor of ``<text>`` padded with ``@``."""
    out = torch.full((len(texts), length), PAD, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = encode(text)[:length]
        out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


def decode(ids) -> str:
    """Return the characters of ``ids`` (a sequence of ints), special tokens included."""
    return "".join(ALPHABET[int(i)] for i in ids)


def strip_special(ids) -> str:
    """Return the text of ``ids``: a leading ``<`` dropped, stopped at the first ``>``, ``@`` removed."""
    text = decode(ids)
    if text.startswith("<"):
        text = text[1:]
    return text.split(">", 1)[0].replace("@", "")
