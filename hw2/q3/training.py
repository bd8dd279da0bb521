"""Training and scoring the Q3 recogniser: features, batches, the loop, evaluation.

Training follows the course: AdamW, a learning rate that warms up linearly from
0.01x to 1x over the first two epochs and then falls linearly to 0.01x, teacher
forcing (input ``text[:, :-1]``, target ``text[:, 1:]``), cross-entropy with label
smoothing 0.1.  Each epoch ends with the validation loss, greedy decoding of the
validation set (or a fixed subset of it) and its scores.

Two losses are reported, each with one definition whatever the training settings:

* ``loss``, the skeleton's: the mean over all 98 target positions of every clip,
  the ``@`` padding after the transcript included;
* ``text_loss``: per clip, the mean over its own transcript's positions (its
  characters and the end token ``>``), then the mean over clips.  It does not depend
  on how clips are batched or padded, so training and validation can be compared.

With ``trim_targets`` a training step runs the decoder only up to the longest
transcript of its batch: both decoders are causal, so the outputs at the kept
positions are unchanged, and the positions dropped are padding after every
transcript of the batch.  The optimised loss is then the mean over the kept
positions (``train_loss``); ``train_text_loss`` keeps its definition.

Batches are either padded to their own longest clip with key-padding masks
(``pad_to_frames`` None; training batches grouped by length), or padded/cut to a
fixed number of frames without masks, as the skeleton does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
import torch.nn.functional as F

from hw2.q3.features import log_mel_spectrogram, mel_filterbank
from hw2.q3.ljspeech import Utterance, read_wav
from hw2.q3.model import SpeechRecognizer
from hw2.q3.text_metrics import (PairScore, character_error_rate, known_word_fraction, prediction_string,
                                 score_details, summarize, words_of)
from hw2.q3.tokenizer import DECODER_LEN, PAD, decode, encode_batch, strip_special

if TYPE_CHECKING:
    from hw2.resume import CheckpointStore

LABEL_SMOOTHING = 0.1


@dataclass(frozen=True)
class TrainConfig:
    """How ``train`` trains: epochs, batches, optimiser step and schedule, padding, validation."""

    epochs: int = 15
    batch_size: int = 64
    eval_batch_size: int = 16
    learning_rate: float = 1e-3
    lr_schedule: str = "epoch"  # warm-up/decay factor updated every "epoch" (skeleton) or every "step"
    pad_to_frames: int | None = 2754  # None: pad each batch to its longest clip and use masks
    length_buckets: bool = False  # training batches of clips of similar length
    trim_targets: bool = False  # run the decoder only up to each batch's longest transcript
    val_clips: int | None = None  # validate on the first N validation clips every epoch (None: all)
    tracked_clips: tuple[int, ...] = ()  # validation clips whose transcripts are recorded after every epoch
    max_decode_steps: int = DECODER_LEN


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

    def first(self, count: int | None) -> SpeechSet:
        """Return the first ``count`` clips (all of them for None)."""
        if count is None or count >= len(self):
            return self
        return SpeechSet(self.ids[:count], self.texts[:count], self.features[:count], self.lengths[:count],
                         self.targets[:count])


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


# ----------------------------------------------------------------------------- losses

def lr_factor(progress_epochs: float, epochs: int, warmup_epochs: float = 2.0, floor: float = 0.01) -> float:
    """Return the learning-rate multiplier after ``progress_epochs`` epochs: warm-up from ``floor`` to 1, then decay to ``floor``."""
    if progress_epochs < warmup_epochs:
        return floor + (1 - floor) * progress_epochs / warmup_epochs
    span = max(epochs - warmup_epochs, 1e-9)
    return max(floor, 1 - (1 - floor) * (progress_epochs - warmup_epochs) / span)


def trimmed(targets: torch.Tensor) -> torch.Tensor:
    """Return ``targets`` (b, 99) cut after the batch's longest ``<text>``: (b, t) with t <= 99."""
    return targets[:, :int((targets != PAD).sum(dim=1).max())]


def position_losses(model: SpeechRecognizer, mels: torch.Tensor, lengths: torch.Tensor | None,
                    targets: torch.Tensor, audio: tuple[torch.Tensor, torch.Tensor | None] | None = None
                    ) -> torch.Tensor:
    """Return the teacher-forced cross-entropy (label smoothing 0.1) at every target position: (b, t - 1).

    ``audio`` is the encoder's output for ``mels`` when already computed.
    """
    states, valid = audio if audio is not None else model.encoder(mels, lengths)
    logits = model.decoder(targets[:, :-1], states, valid)  # b t V
    return F.cross_entropy(logits.transpose(1, 2), targets[:, 1:], label_smoothing=LABEL_SMOOTHING,
                           reduction="none")


def text_losses(losses: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Return each clip's mean loss over its transcript's positions (characters and ``>``): (b,)."""
    text = (targets[:, 1:losses.shape[1] + 1] != PAD).to(losses.dtype)  # b t
    return (losses * text).sum(dim=1) / text.sum(dim=1).clamp(min=1)


def sequence_loss(model: SpeechRecognizer, mels: torch.Tensor, lengths: torch.Tensor | None,
                  targets: torch.Tensor, trim: bool = False) -> torch.Tensor:
    """Return the teacher-forced loss of one batch: the skeleton's (every position, padding included),
    or with ``trim`` the mean over the positions up to the batch's longest transcript."""
    return position_losses(model, mels, lengths, trimmed(targets) if trim else targets).mean()


# ----------------------------------------------------------------------------- evaluation

@torch.no_grad()
def evaluate(model: SpeechRecognizer, data: SpeechSet, batch_size: int, device: torch.device,
             pad_to_frames: int | None = None, max_steps: int = DECODER_LEN, decode_text: bool = True) -> dict:
    """Return the losses, greedy transcripts and scores over ``data``, as means and per clip.

    ``loss`` is the skeleton's (all 98 positions), ``text_loss`` the mean over each clip's
    transcript; ``per_clip`` holds both and, when decoding, every score of every clip, the
    length of what was written and whether it ended with ``>``.  ``decode_text`` False
    computes the losses only.
    """
    model.eval()
    n = len(data)
    loss, text_loss, decoded = torch.zeros(n), torch.zeros(n), [""] * n
    for index in evaluation_batches(data.lengths, batch_size):
        mels, lengths, targets = collate(data, index, pad_to_frames)
        mels, targets = mels.to(device), targets.to(device)
        lengths = lengths.to(device) if lengths is not None else None
        audio = model.encoder(mels, lengths)  # shared by the loss and the decoding
        losses = position_losses(model, mels, lengths, targets, audio)  # b 98
        loss[index], text_loss[index] = losses.mean(dim=1).cpu(), text_losses(losses, targets).cpu()
        if decode_text:
            out = model.greedy_decode_audio(*audio, max_steps=max_steps).cpu()
            for row, i in enumerate(index):
                decoded[i] = decode(out[row])
    references = [decode(t) for t in data.targets]
    result = {"loss": float(loss.mean()), "text_loss": float(text_loss.mean()),
              "per_clip": {"loss": loss.tolist(), "text_loss": text_loss.tolist()}, "references": references}
    if decode_text:
        details = [score_details(ref, out) for ref, out in zip(references, decoded)]
        result.update(scores=summarize(details), decoded=decoded)
        result["per_clip"].update(per_clip_scores(details))
    return result


def per_clip_scores(details: list[PairScore]) -> dict[str, list]:
    """Return each clip's scores, output length and end flag, as one list per quantity."""
    keys = ("jaccard", "cosine", "damerau_levenshtein", "cer", "wer", "pred_chars", "ref_chars", "ended")
    return {key: [getattr(d, key) for d in details] for key in keys}


# ----------------------------------------------------------------------------- the loop

def train(model: SpeechRecognizer, train_set: SpeechSet, val_set: SpeechSet, cfg: TrainConfig,
          device: torch.device, seed: int, progress: bool = False,
          log: Callable[[str], None] | None = None, checkpoints: CheckpointStore | None = None,
          checkpoint_name: str | None = None, between_steps: Callable[[], None] | None = None,
          words: set[str] | None = None) -> list[dict]:
    """Train ``model`` as the course does and return one record per epoch (losses, scores, times, lr).

    With ``checkpoints`` the state after every epoch (weights, optimiser, batch-order and
    dropout random states, history) is saved as ``checkpoint_name``, and a saved state is
    resumed, so that an interrupted run ends as the uninterrupted one would.
    ``between_steps`` is called before every training step (the pipeline uses it to follow
    its share of the cores under ``JOBS=N``).  ``words``, the training transcripts' words,
    lets each record say how much of the validation output is made of them.
    """
    model.to(device)
    optimizer = make_optimizer(model, cfg)
    rng = np.random.default_rng(seed)
    val_set = val_set.first(cfg.val_clips)  # the same clips every epoch
    saving = checkpoints is not None and checkpoints.enabled and checkpoint_name is not None
    history = resume(model, optimizer, rng, device, checkpoints, checkpoint_name, log) if saving else []
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        t0, cpu0 = time.perf_counter(), time.process_time()
        losses = train_epoch(model, optimizer, train_set, cfg, epoch, rng, device, progress, between_steps)
        train_time = time.perf_counter() - t0
        record = validation_record(model, val_set, cfg, device, epoch, losses, optimizer, train_time, words)
        record["cpu_s"] = time.process_time() - cpu0  # this process's CPU time (all threads), validation included
        history.append(record)
        release_free_memory()
        if saving:
            save_state(checkpoints, checkpoint_name, model, optimizer, rng, device, history)
        if log:
            s = record["val_scores"]
            log(f"{model.decoder_name} epoch {epoch:2d}: train {record['train_text_loss']:.3f} "
                f"val {record['val_text_loss']:.3f} (text positions) DL {s['damerau_levenshtein']:.3f} "
                f"CER {s['cer']:.3f} ({train_time:.0f}+{record['val_time_s']:.0f} s)")
    return history


def make_optimizer(model: SpeechRecognizer, cfg: TrainConfig) -> torch.optim.AdamW:
    """Return the course's AdamW (default betas, eps and weight decay) for ``model``.

    The fused kernel does the same update for all parameters at once; on one CPU thread it
    makes a training step about 3% faster than the per-parameter loop (measured at width 128).
    """
    return torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, fused=True)


def set_learning_rate(optimizer: torch.optim.Optimizer, cfg: TrainConfig, progress_epochs: float) -> None:
    """Set every parameter group's learning rate to the schedule's value after ``progress_epochs`` epochs."""
    for group in optimizer.param_groups:
        group["lr"] = cfg.learning_rate * lr_factor(progress_epochs, cfg.epochs)


def train_epoch(model: SpeechRecognizer, optimizer: torch.optim.Optimizer, data: SpeechSet, cfg: TrainConfig,
                epoch: int, rng: np.random.Generator, device: torch.device, progress: bool = False,
                between_steps: Callable[[], None] | None = None) -> dict[str, float]:
    """Run one epoch of teacher-forced AdamW steps; return its mean optimised loss and mean text loss."""
    model.train()
    batches = training_batches(data.lengths, cfg.batch_size, rng, bucket=cfg.length_buckets)
    per_step = cfg.lr_schedule == "step"
    if not per_step:
        set_learning_rate(optimizer, cfg, epoch - 1)
    bar = batches
    if progress:
        from tqdm import tqdm

        bar = tqdm(batches, desc=f"{model.decoder_name} epoch {epoch}/{cfg.epochs}", unit="batch", leave=False)
    loss_sum, text_sum, seen = 0.0, 0.0, 0
    for step, index in enumerate(bar):
        if between_steps is not None:
            between_steps()
        if per_step:
            set_learning_rate(optimizer, cfg, epoch - 1 + step / len(batches))
        mels, lengths, targets = collate(data, index, cfg.pad_to_frames)
        mels, targets = mels.to(device), targets.to(device)
        lengths = lengths.to(device) if lengths is not None else None
        targets = trimmed(targets) if cfg.trim_targets else targets  # b t, t <= 99
        losses = position_losses(model, mels, lengths, targets)
        loss = losses.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(index)
        text_sum += float(text_losses(losses.detach(), targets).sum())
        seen += len(index)
        if progress:
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
    return {"train_loss": loss_sum / seen, "train_text_loss": text_sum / seen}


def validation_record(model: SpeechRecognizer, val_set: SpeechSet, cfg: TrainConfig, device: torch.device,
                      epoch: int, losses: dict[str, float], optimizer: torch.optim.Optimizer,
                      train_time: float, words: set[str] | None = None) -> dict:
    """Evaluate on ``val_set`` and return the epoch's record: losses, scores, tracked transcripts, lr, times.

    With ``words`` (the training transcripts' words) the record also holds ``val_known_words``,
    the fraction of the words written over the validation clips that are among them.
    """
    t0 = time.perf_counter()
    val = evaluate(model, val_set, cfg.eval_batch_size, device, cfg.pad_to_frames, cfg.max_decode_steps)
    texts = [prediction_string(d).replace("@", "") for d in val["decoded"]]
    record = {
        "epoch": epoch,
        **losses,
        "val_loss": val["loss"],
        "val_text_loss": val["text_loss"],
        "val_scores": val["scores"],
        "tracked": [tracked_transcript(texts[i], strip_special(val_set.targets[i]), words) for i in cfg.tracked_clips],
        "lr_end": optimizer.param_groups[0]["lr"],
        "train_time_s": train_time,
    }
    if words is not None:
        written = [w for t in texts for w in words_of(t)]
        record["val_known_words"] = sum(w in words for w in written) / len(written) if written else 0.0
    record["val_time_s"] = time.perf_counter() - t0
    return record


def tracked_transcript(text: str, reference: str, words: set[str] | None) -> dict:
    """Return a tracked clip's transcript after an epoch, its CER and (with ``words``) its share of corpus words."""
    out = {"text": text, "cer": character_error_rate(reference, text)}
    if words is not None:
        out["known_words"] = known_word_fraction(text, words)
    return out


# ----------------------------------------------------------------------------- checkpoints

def resume(model: SpeechRecognizer, optimizer: torch.optim.Optimizer, rng: np.random.Generator,
           device: torch.device, checkpoints: CheckpointStore, name: str,
           log: Callable[[str], None] | None = None) -> list[dict]:
    """Load the state saved as ``name`` into the model, optimiser and random generators; return its history
    (empty when nothing was saved)."""
    state = checkpoints.load(name)
    if state is None:
        return []
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])
    if device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], device)
    if log:
        log(f"{model.decoder_name}: resumed after epoch {len(state['history'])} from {checkpoints.path(name)}")
    return state["history"]


def save_state(checkpoints: CheckpointStore, name: str, model: SpeechRecognizer, optimizer: torch.optim.Optimizer,
               rng: np.random.Generator, device: torch.device, history: list[dict]) -> None:
    """Save what ``resume`` needs to continue after the last epoch of ``history``."""
    checkpoints.save(name, {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(), "history": history,
        **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})})


def release_free_memory() -> None:
    """Hand the C allocator's free pages back to the system (glibc's ``malloc_trim``; elsewhere nothing).

    Batches of every length leave glibc's heap fragmented, so a long CPU run's resident
    memory keeps growing; trimming once per epoch keeps it near one epoch's peak.
    """
    name = ctypes.util.find_library("c")
    if sys.platform.startswith("linux") and name:
        try:
            ctypes.CDLL(name).malloc_trim(0)
        except (OSError, AttributeError):
            pass
