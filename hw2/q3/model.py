"""The Q3 speech recogniser: a Whisper-like audio encoder and two text decoders.

Encoder: two 1-D convolutions (the second with stride 2) with GELU, sinusoidal
positions, residual pre-norm attention blocks, a final LayerNorm.
Decoders (the course's two options):

* ``TextDecoderRecurrent``: embedding -> LayerNorm -> one-layer LSTM -> residual
  cross-attention block over the encoder output -> LayerNorm -> linear.
* ``TextDecoderTransformer``: embedding + learned positions -> residual causal
  self-attention -> residual cross-attention block -> LayerNorm -> linear.

Attention scales q and k each by d_head^-0.25 (i.e. q·k / sqrt(d_head)); there is no
dropout.  Padding is handled with key-padding masks (``True`` = a real frame), so a
clip gives the same output alone or batched with longer clips.  Greedy decoding
works one token per step and keeps what it can: the encoder output, each
cross-attention's key/value projections, the LSTM state, and the self-attention
keys/values of earlier tokens.  ``greedy_decode_recompute`` is the skeleton's way
(the whole prefix re-run at every step), kept as a reference and a baseline.

Shapes: b batch, m mel bands, T frames, s encoder positions (ceil(T / 2)), t text
positions, d width, h heads, k head width (d / h), V vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hw2.q3.tokenizer import DECODER_LEN, EOS, SOS, VOCAB_SIZE


@dataclass
class ASRConfig:
    """Sizes of the recogniser (defaults: the course skeleton)."""

    n_mels: int = 80
    width: int = 200
    heads: int = 2
    encoder_blocks: int = 2
    mlp_width: int = 400
    vocab_size: int = VOCAB_SIZE
    text_positions: int = DECODER_LEN  # rows of the attention decoder's learned position table (98)
    max_frames: int = 2754  # longest input; sets the size of the sinusoid table

    def to_dict(self) -> dict:
        """Return the settings as a plain dict."""
        return asdict(self)


# ----------------------------------------------------------------------------- helpers

def sinusoids(length: int, channels: int, max_timescale: float = 10_000.0) -> torch.Tensor:
    """Return Whisper's sinusoidal position table: (length, channels), sines then cosines."""
    assert channels % 2 == 0
    inc = math.log(max_timescale) / (channels // 2 - 1)
    inv = torch.exp(-inc * torch.arange(channels // 2, dtype=torch.float32))
    t = torch.arange(length, dtype=torch.float32)[:, None] * inv[None, :]  # (length, c/2)
    return torch.cat([t.sin(), t.cos()], dim=1)


def encoder_lengths(frame_lengths: torch.Tensor) -> torch.Tensor:
    """Return how many encoder positions each clip fills after the stride-2 convolution: ceil(T / 2)."""
    return (frame_lengths + 1) // 2


def length_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """Return a (b, size) bool mask, True at positions < length."""
    return torch.arange(size, device=lengths.device)[None, :] < lengths[:, None]


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate key/value projection so it can be cached."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        assert width % heads == 0
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width, bias=False)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # b t d -> b h t k

    def project_kv(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the keys and values of ``source`` (b, s, d), each (b, h, s, k)."""
        return self.split(self.key(source)), self.split(self.value(source))

    def attend(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return attention of queries from ``x`` (b, t, d) over given keys/values; ``mask`` broadcasts to (b, h, t, s).

        Scaling q and k each by k^-0.25 (the skeleton) is the usual q·k / sqrt(k), which the fused
        ``scaled_dot_product_attention`` applies; it computes the softmax in float32 for float32 inputs.
        """
        q = self.split(self.query(x))  # b h t k
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # b h t k
        b, h, t, k_ = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, h * k_))  # b h t k -> b t d

    def forward(self, x: torch.Tensor, source: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return self-attention (``source`` None) or cross-attention over ``source``."""
        k, v = self.project_kv(x if source is None else source)
        return self.attend(x, k, v, mask)


def mlp(width: int, hidden: int) -> nn.Sequential:
    """Return the two-layer GELU MLP of a residual block."""
    return nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))


def key_mask(valid: torch.Tensor | None) -> torch.Tensor | None:
    """Turn a (b, s) valid-position mask into one that broadcasts over (b, h, t, s)."""
    return None if valid is None else valid[:, None, None, :]


# ----------------------------------------------------------------------------- encoder

class EncoderBlock(nn.Module):
    """Pre-norm residual block: x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, width: int, heads: int, mlp_width: int):
        super().__init__()
        self.attn_ln = nn.LayerNorm(width)
        self.attn = MultiHeadAttention(width, heads)
        self.mlp_ln = nn.LayerNorm(width)
        self.mlp = mlp(width, mlp_width)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.attn_ln(x), mask=key_mask(valid))
        return x + self.mlp(self.mlp_ln(x))


class AudioEncoder(nn.Module):
    """Log-mel frames (b, m, T) -> encoder states (b, s, d) with s = ceil(T / 2)."""

    def __init__(self, cfg: ASRConfig):
        super().__init__()
        self.conv1 = nn.Conv1d(cfg.n_mels, cfg.width, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(cfg.width, cfg.width, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positions", sinusoids((cfg.max_frames + 1) // 2, cfg.width), persistent=False)
        self.blocks = nn.ModuleList(EncoderBlock(cfg.width, cfg.heads, cfg.mlp_width)
                                    for _ in range(cfg.encoder_blocks))
        self.ln_post = nn.LayerNorm(cfg.width)

    def forward(self, mels: torch.Tensor, frame_lengths: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return the encoder states (b, s, d) and the valid-position mask (b, s), or None without lengths."""
        x = F.gelu(self.conv1(mels))  # b m T -> b d T
        if frame_lengths is not None:  # zero the padding so that the next conv sees what a lone clip sees
            x = x * length_mask(frame_lengths, x.shape[-1])[:, None, :]
        x = F.gelu(self.conv2(x)).transpose(1, 2)  # b d T -> b d s -> b s d
        if x.shape[1] > self.positions.shape[0]:
            raise ValueError(f"clip of {mels.shape[-1]} frames is longer than the model's "
                             f"{2 * self.positions.shape[0]} (raise max_frames)")
        x = x + self.positions[: x.shape[1]]
        valid = None if frame_lengths is None else length_mask(encoder_lengths(frame_lengths), x.shape[1])
        for block in self.blocks:
            x = block(x, valid)
        return self.ln_post(x), valid


# ----------------------------------------------------------------------------- decoders

class CrossAttentionBlock(EncoderBlock):
    """Residual cross-attention over the audio, then a residual MLP (both pre-norm).

    The same layers as an encoder block; only the attention reads precomputed audio keys/values.
    """

    def forward(self, x: torch.Tensor, audio_kv: tuple[torch.Tensor, torch.Tensor],
                valid: torch.Tensor | None) -> torch.Tensor:
        """Return x (b, t, d) updated with attention over precomputed audio keys/values."""
        x = x + self.attn.attend(self.attn_ln(x), *audio_kv, mask=key_mask(valid))
        return x + self.mlp(self.mlp_ln(x))


class TextDecoderRecurrent(nn.Module):
    """Embedding -> LayerNorm -> LSTM -> cross-attention block -> LayerNorm -> logits."""

    def __init__(self, cfg: ASRConfig):
        super().__init__()
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.width)
        self.ln_in = nn.LayerNorm(cfg.width)
        self.lstm = nn.LSTM(cfg.width, cfg.width, num_layers=1, batch_first=True)
        self.cross = CrossAttentionBlock(cfg.width, cfg.heads, cfg.mlp_width)
        self.ln_out = nn.LayerNorm(cfg.width)
        self.head = nn.Linear(cfg.width, cfg.vocab_size)

    def forward(self, tokens: torch.Tensor, audio: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Return logits (b, t, V) for tokens (b, t) given encoder states (b, s, d)."""
        x, _ = self.lstm(self.ln_in(self.embedding(tokens)))  # b t d
        x = self.cross(x, self.cross.attn.project_kv(audio), valid)
        return self.head(self.ln_out(x))

    def start(self, audio: torch.Tensor, valid: torch.Tensor | None) -> dict:
        """Return the decoding cache: audio keys/values (computed once) and an empty LSTM state."""
        return {"audio_kv": self.cross.attn.project_kv(audio), "valid": valid, "state": None}

    def step(self, token: torch.Tensor, position: int, cache: dict) -> torch.Tensor:
        """Return next-token logits (b, V) for the latest tokens (b,), advancing the LSTM state in ``cache``."""
        x = self.ln_in(self.embedding(token[:, None]))  # b -> b 1 d
        x, cache["state"] = self.lstm(x, cache["state"])
        x = self.cross(x, cache["audio_kv"], cache["valid"])
        return self.head(self.ln_out(x))[:, 0]


class TextDecoderTransformer(nn.Module):
    """Embedding + learned positions -> causal self-attention -> cross-attention block -> LayerNorm -> logits."""

    def __init__(self, cfg: ASRConfig):
        super().__init__()
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.width)
        # as large as the token embeddings (N(0, 1)), so that position is visible from the start
        self.positions = nn.Parameter(torch.randn(cfg.text_positions, cfg.width))
        self.self_ln = nn.LayerNorm(cfg.width)
        self.self_attn = MultiHeadAttention(cfg.width, cfg.heads)
        self.cross = CrossAttentionBlock(cfg.width, cfg.heads, cfg.mlp_width)
        self.ln_out = nn.LayerNorm(cfg.width)
        self.head = nn.Linear(cfg.width, cfg.vocab_size)

    def forward(self, tokens: torch.Tensor, audio: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Return logits (b, t, V) for tokens (b, t); position i sees tokens 0..i only."""
        t = tokens.shape[1]
        x = self.embedding(tokens) + self.positions[:t]  # b t d
        causal = torch.ones(t, t, dtype=torch.bool, device=tokens.device).tril()  # (t, t), True = may look
        x = x + self.self_attn(self.self_ln(x), mask=causal)
        x = self.cross(x, self.cross.attn.project_kv(audio), valid)
        return self.head(self.ln_out(x))

    def start(self, audio: torch.Tensor, valid: torch.Tensor | None) -> dict:
        """Return the decoding cache: audio keys/values (computed once), no text keys yet."""
        return {"audio_kv": self.cross.attn.project_kv(audio), "valid": valid, "k": None, "v": None}

    def step(self, token: torch.Tensor, position: int, cache: dict) -> torch.Tensor:
        """Return next-token logits (b, V) for the latest tokens (b,) at ``position``, appending their keys/values."""
        x = self.embedding(token[:, None]) + self.positions[position]  # b -> b 1 d
        h = self.self_ln(x)
        k, v = self.self_attn.project_kv(h)  # b h 1 k each
        if cache["k"] is not None:
            k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)  # b h i+1 k
        cache["k"], cache["v"] = k, v
        x = x + self.self_attn.attend(h, k, v)
        x = self.cross(x, cache["audio_kv"], cache["valid"])
        return self.head(self.ln_out(x))[:, 0]


DECODERS = {"lstm": TextDecoderRecurrent, "attention": TextDecoderTransformer}


# ----------------------------------------------------------------------------- the whole model

class SpeechRecognizer(nn.Module):
    """Audio encoder plus one of the two text decoders."""

    def __init__(self, cfg: ASRConfig, decoder: str):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; choose from {', '.join(DECODERS)}")
        self.cfg = cfg
        self.decoder_name = decoder
        self.encoder = AudioEncoder(cfg)
        self.decoder = DECODERS[decoder](cfg)

    def forward(self, mels: torch.Tensor, tokens: torch.Tensor,
                frame_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Return logits (b, t, V) for teacher-forced tokens (b, t) given log-mels (b, m, T)."""
        audio, valid = self.encoder(mels, frame_lengths)
        return self.decoder(tokens, audio, valid)

    @torch.no_grad()
    def greedy_decode(self, mels: torch.Tensor, frame_lengths: torch.Tensor | None = None,
                      max_steps: int = DECODER_LEN) -> torch.Tensor:
        """Return greedy transcripts (b, 1 + steps) starting with ``<``, one cached step per token.

        Stops early once every row has produced ``>``; what follows a ``>`` is not meaningful.
        """
        return self.greedy_decode_audio(*self.encoder(mels, frame_lengths), max_steps=max_steps)

    @torch.no_grad()
    def greedy_decode_audio(self, audio: torch.Tensor, valid: torch.Tensor | None,
                            max_steps: int = DECODER_LEN) -> torch.Tensor:
        """Return greedy transcripts (b, 1 + steps) from encoder states (b, s, d) already computed."""
        cache = self.decoder.start(audio, valid)
        tokens = torch.full((audio.shape[0], 1), SOS, dtype=torch.long, device=audio.device)
        done = torch.zeros(audio.shape[0], dtype=torch.bool, device=audio.device)
        for position in range(max_steps):
            logits = self.decoder.step(tokens[:, -1], position, cache)  # b V
            nxt = logits.argmax(dim=-1)
            tokens = torch.cat([tokens, nxt[:, None]], dim=1)
            done |= nxt == EOS
            if bool(done.all()):
                break
        return tokens

    def num_parameters(self) -> int:
        """Return the number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


@torch.no_grad()
def greedy_decode_recompute(model: SpeechRecognizer, mels: torch.Tensor, frame_lengths: torch.Tensor | None = None,
                            max_steps: int = DECODER_LEN) -> torch.Tensor:
    """Return greedy transcripts like ``greedy_decode``, re-running the decoder on the whole prefix each step.

    The skeleton's way; kept as a reference for tests and as the benchmark's baseline.
    """
    audio, valid = model.encoder(mels, frame_lengths)
    tokens = torch.full((mels.shape[0], 1), SOS, dtype=torch.long, device=mels.device)
    done = torch.zeros(mels.shape[0], dtype=torch.bool, device=mels.device)
    for _ in range(max_steps):
        nxt = model.decoder(tokens, audio, valid)[:, -1].argmax(dim=-1)  # b t V -> b
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)
        done |= nxt == EOS
        if bool(done.all()):
            break
    return tokens


def build_model(cfg: ASRConfig, decoder: str, seed: int) -> SpeechRecognizer:
    """Return a freshly initialised recogniser; the same seed gives the same weights (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SpeechRecognizer(cfg, decoder)
