"""Training and scoring the Q3 recogniser: features, batches, the loop, evaluation.

Training follows the course: AdamW, a learning rate that warms up linearly from
0.01x to 1x over the first two epochs and then falls linearly to 0.01x, teacher
forcing (input ``text[:, :-1]``, target ``text[:, 1:]``), cross-entropy with label
smoothing 0.1 over every position, padding included.  Each epoch ends with the
validation loss, greedy decoding of the validation set and its scores.

Batches are either padded to their own longest clip with key-padding masks
(``pad_to_frames`` None; training batches grouped by length), or padded/cut to a
fixed number of frames without masks, as the skeleton does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
import torch.nn.functional as F

from hw2.q3.model import SpeechRecognizer
from hw2.q3.features import log_mel_spectrogram, mel_filterbank
from hw2.q3.ljspeech import Utterance, read_wav
from hw2.q3.text_metrics import mean_scores
from hw2.q3.tokenizer import decode, encode_batch

if TYPE_CHECKING:
    from hw2.resume import CheckpointStore

LABEL_SMOOTHING = 0.1


@dataclass(frozen=True)
class TrainConfig:
    """How ``train`` trains: epochs, batches, optimiser step and schedule, padding."""

    epochs: int = 15
    batch_size: int = 64
    eval_batch_size: int = 16
    learning_rate: float = 1e-3
    lr_schedule: str = "epoch"  # warm-up/decay factor updated every "epoch" (skeleton) or every "step"
    pad_to_frames: int | None = 2754  # None: pad each batch to its longest clip and use masks
    length_buckets: bool = False  # training batches of clips of similar length


# ----------------------------------------------------------------------------- data

@dataclass
class SpeechSet:
    """One split in memory: log-mel features per clip, their lengths, token targets and texts."""

    ids: list[str]
    texts: list[str]
    features: list[torch.Tensor]  # each (m, T_i), float16 to save memory
    lengths: torch.Tensor  # (n,) frames
    targets: torch.Tensor  # (n, 99) tokens: <text> padded with @

    def __len__(self) -> int:
        return len(self.ids)

    def seconds(self, hop: int = 160, rate: int = 22_050) -> float:
        """Return the total audio duration in seconds (from the frame counts)."""
        return float(self.lengths.sum()) * hop / rate


def load_speech_set(utterances: list[Utterance], filterbank_rate: int, progress: bool = False,
                    desc: str = "features") -> SpeechSet:
    """Read each clip and return its log-mel features with the targets (one clip in memory at a time)."""
    filterbank = mel_filterbank(filterbank_rate)
    features = []
    items = utterances
    if progress:
        from tqdm import tqdm

        items = tqdm(utterances, desc=desc, unit="clip", leave=False)
    for utt in items:
        features.append(log_mel_spectrogram(read_wav(utt.wav), filterbank).to(torch.float16))
    texts = [u.text for u in utterances]
    return SpeechSet(
        ids=[u.id for u in utterances],
        texts=texts,
        features=features,
        lengths=torch.tensor([f.shape[1] for f in features], dtype=torch.long),
        targets=encode_batch(texts),
    )


def collate(data: SpeechSet, index: list[int] | np.ndarray, pad_to_frames: int | None = None
            ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Return (mels (b, m, T), frame lengths (b,) or None, targets (b, 99)) for the clips in ``index``.

    With ``pad_to_frames`` every clip is padded or cut to that many frames and no lengths are
    returned (no masks); otherwise T is the batch's longest clip.
    """
    feats = [data.features[i] for i in index]
    lengths = torch.tensor([f.shape[1] for f in feats], dtype=torch.long)
    frames = pad_to_frames or int(lengths.max())
    mels = torch.zeros(len(feats), feats[0].shape[0], frames)
    for row, f in enumerate(feats):
        n = min(f.shape[1], frames)
        mels[row, :, :n] = f[:, :n].float()
    return mels, (None if pad_to_frames else lengths), data.targets[list(index)]


def training_batches(lengths: torch.Tensor, batch_size: int, rng: np.random.Generator,
                     bucket: bool = True) -> list[np.ndarray]:
    """Return one epoch of index batches: shuffled, and (``bucket``) grouped by similar length.

    Bucketing sorts random windows of 50 batches by length, cuts them into batches and
    shuffles the batch order, so padding stays small while the order still varies.
    """
    order = rng.permutation(len(lengths))
    if bucket:
        window = 50 * batch_size
        lens = lengths.numpy()
        order = np.concatenate([w[np.argsort(lens[w], kind="stable")]
                                for w in np.array_split(order, max(1, math.ceil(len(order) / window)))])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if bucket:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def evaluation_batches(lengths: torch.Tensor, batch_size: int, sort: bool = True) -> list[np.ndarray]:
    """Return fixed index batches for evaluation (sorted by length to keep padding small)."""
    order = np.argsort(lengths.numpy(), kind="stable") if sort else np.arange(len(lengths))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


# ----------------------------------------------------------------------------- the loop

def lr_factor(progress_epochs: float, epochs: int, warmup_epochs: float = 2.0, floor: float = 0.01) -> float:
    """Return the learning-rate multiplier after ``progress_epochs`` epochs: warm-up from ``floor`` to 1, then decay to ``floor``."""
    if progress_epochs < warmup_epochs:
        return floor + (1 - floor) * progress_epochs / warmup_epochs
    span = max(epochs - warmup_epochs, 1e-9)
    return max(floor, 1 - (1 - floor) * (progress_epochs - warmup_epochs) / span)


def sequence_loss(model: SpeechRecognizer, mels: torch.Tensor, lengths: torch.Tensor | None,
                  targets: torch.Tensor) -> torch.Tensor:
    """Return the teacher-forced cross-entropy (label smoothing 0.1, padding included) of one batch."""
    logits = model(mels, targets[:, :-1], lengths)  # b t V
    return F.cross_entropy(logits.transpose(1, 2), targets[:, 1:], label_smoothing=LABEL_SMOOTHING)


@torch.no_grad()
def evaluate(model: SpeechRecognizer, data: SpeechSet, batch_size: int, device: torch.device,
             pad_to_frames: int | None = None, max_steps: int = 98) -> dict:
    """Return the mean loss, the greedy transcripts and their mean scores over ``data``."""
    model.eval()
    total_loss, decoded = 0.0, [""] * len(data)
    for index in evaluation_batches(data.lengths, batch_size):
        mels, lengths, targets = collate(data, index, pad_to_frames)
        mels, targets = mels.to(device), targets.to(device)
        lengths = lengths.to(device) if lengths is not None else None
        total_loss += sequence_loss(model, mels, lengths, targets).item() * len(index)
        out = model.greedy_decode(mels, lengths, max_steps=max_steps).cpu()
        for row, i in enumerate(index):
            decoded[i] = decode(out[row])
    references = [decode(t) for t in data.targets]
    return {
        "loss": total_loss / len(data),
        "scores": mean_scores(list(zip(references, decoded))),
        "decoded": decoded,
        "references": references,
    }


def train(model: SpeechRecognizer, train_set: SpeechSet, val_set: SpeechSet, cfg: TrainConfig,
          device: torch.device, seed: int, progress: bool = False,
          log: Callable[[str], None] | None = None, checkpoints: CheckpointStore | None = None,
          checkpoint_name: str | None = None, between_steps: Callable[[], None] | None = None) -> list[dict]:
    """Train ``model`` as the course does and return one record per epoch (losses, scores, times, lr).

    With ``checkpoints`` the state after every epoch (weights, optimiser, batch-order and
    dropout random states, history) is saved as ``checkpoint_name``, and a saved state is
    resumed, so that an interrupted run ends as the uninterrupted one would.
    """
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate)
    rng = np.random.default_rng(seed)
    epochs, pad_to = cfg.epochs, cfg.pad_to_frames
    per_step = cfg.lr_schedule == "step"
    history: list[dict] = []
    saving = checkpoints is not None and checkpoints.enabled and checkpoint_name is not None
    state = checkpoints.load(checkpoint_name) if saving else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        history = state["history"]
        if log:
            log(f"{model.decoder_name}: resumed after epoch {len(history)} from {checkpoints.path(checkpoint_name)}")
    for epoch in range(len(history) + 1, epochs + 1):
        model.train()
        batches = training_batches(train_set.lengths, cfg.batch_size, rng, bucket=cfg.length_buckets)
        if not per_step:
            for group in optimizer.param_groups:
                group["lr"] = cfg.learning_rate * lr_factor(epoch - 1, epochs)
        bar = batches
        if progress:
            from tqdm import tqdm

            bar = tqdm(batches, desc=f"{model.decoder_name} epoch {epoch}/{epochs}", unit="batch", leave=False)
        t0, loss_sum, seen = time.perf_counter(), 0.0, 0
        for step, index in enumerate(bar):
            if between_steps is not None:  # e.g. the pipeline adjusting the thread count under JOBS=N
                between_steps()
            if per_step:
                for group in optimizer.param_groups:
                    group["lr"] = cfg.learning_rate * lr_factor(epoch - 1 + step / len(batches), epochs)
            mels, lengths, targets = collate(train_set, index, pad_to)
            mels, targets = mels.to(device), targets.to(device)
            lengths = lengths.to(device) if lengths is not None else None
            loss = sequence_loss(model, mels, lengths, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(index)
            seen += len(index)
            if progress:
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
        train_time = time.perf_counter() - t0
        t1 = time.perf_counter()
        val = evaluate(model, val_set, cfg.eval_batch_size, device, pad_to)
        record = {
            "epoch": epoch,
            "train_loss": loss_sum / seen,
            "val_loss": val["loss"],
            "val_scores": val["scores"],
            "lr_end": optimizer.param_groups[0]["lr"],
            "train_time_s": train_time,
            "val_time_s": time.perf_counter() - t1,
        }
        history.append(record)
        if saving:
            checkpoints.save(checkpoint_name, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(), "history": history,
                **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})})
        if log:
            s = val["scores"]
            log(f"{model.decoder_name} epoch {epoch:2d}: train {record['train_loss']:.3f} val {val['loss']:.3f} "
                f"DL {s['damerau_levenshtein']:.3f} CER {s['cer']:.3f} ({train_time:.0f}+{record['val_time_s']:.0f} s)")
    return history

