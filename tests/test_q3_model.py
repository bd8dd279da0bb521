"""Q3 model: shapes, the causal mask, padding masks, cached greedy decoding, and a training step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hw2.q3.model import ASRConfig, build_model, encoder_lengths, greedy_decode_recompute, sinusoids
from hw2.q3.training import SpeechSet, collate, evaluate, lr_factor, sequence_loss, training_batches
from hw2.q3.tokenizer import EOS, SOS, TARGET_LEN, VOCAB_SIZE, encode_batch

DECODERS = ["lstm", "attention"]
TINY = ASRConfig(n_mels=8, width=16, heads=2, encoder_blocks=2, mlp_width=32, max_frames=64)


def model(decoder: str, seed: int = 0):
    return build_model(TINY, decoder, seed).eval()


def mels(b: int, t: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, TINY.n_mels, t, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("decoder", DECODERS)
def test_forward_backward_shapes_and_finite(decoder):
    m = build_model(TINY, decoder, 0)
    tokens = encode_batch(["hello", "a b"])  # (2, 99)
    logits = m(mels(2, 37), tokens[:, :-1], torch.tensor([37, 20]))
    assert logits.shape == (2, TARGET_LEN - 1, VOCAB_SIZE)
    audio, valid = m.encoder(mels(2, 37), torch.tensor([37, 20]))
    assert audio.shape == (2, 19, TINY.width) and valid.sum(1).tolist() == [19, 10]
    loss = sequence_loss(m, mels(2, 37), torch.tensor([37, 20]), tokens)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_same_seed_same_weights_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    a, b = build_model(TINY, "attention", 3), build_model(TINY, "attention", 3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(build_model(TINY, "attention", 4).decoder.head.weight, a.decoder.head.weight)


def test_sinusoids_and_encoder_lengths():
    table = sinusoids(10, 8)
    assert table.shape == (10, 8)
    assert torch.allclose(table[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert encoder_lengths(torch.tensor([1, 2, 3, 400, 401])).tolist() == [1, 1, 2, 200, 201]


@pytest.mark.parametrize("decoder", DECODERS)
def test_causal_output_never_depends_on_later_tokens(decoder):
    m = model(decoder)
    x = mels(1, 30)
    tokens = torch.randint(0, VOCAB_SIZE, (1, 12), generator=torch.Generator().manual_seed(1))
    base = m(x, tokens)
    for pos in (3, 7, 11):
        changed = tokens.clone()
        changed[0, pos] = (changed[0, pos] + 5) % VOCAB_SIZE
        out = m(x, changed)
        assert torch.allclose(out[:, :pos], base[:, :pos], atol=1e-6)  # earlier outputs untouched
        assert not torch.allclose(out[:, pos], base[:, pos])  # the changed position itself does react


@pytest.mark.parametrize("decoder", DECODERS)
def test_padding_masks_make_a_clip_independent_of_its_batch(decoder):
    m = model(decoder)
    short, long = mels(1, 21, seed=1), mels(1, 40, seed=2)
    tokens = encode_batch(["abc", "de"])[:, :-1]
    alone = m(short, tokens[:1], torch.tensor([21]))
    batch = torch.zeros(2, TINY.n_mels, 40)
    batch[0, :, :21], batch[1] = short[0], long[0]
    together = m(batch, tokens, torch.tensor([21, 40]))
    assert torch.allclose(together[0], alone[0], atol=1e-5)
    # without masks the padding leaks into the short clip's output
    unmasked = m(batch, tokens)
    assert not torch.allclose(unmasked[0], alone[0], atol=1e-3)


@pytest.mark.parametrize("decoder", DECODERS)
def test_cached_steps_equal_the_full_forward(decoder):
    m = model(decoder, seed=5)
    x, lengths = mels(3, 33), torch.tensor([33, 25, 9])
    tokens = torch.randint(0, VOCAB_SIZE, (3, 15), generator=torch.Generator().manual_seed(2))
    full = m(x, tokens, lengths)
    audio, valid = m.encoder(x, lengths)
    cache = m.decoder.start(audio, valid)
    steps = torch.stack([m.decoder.step(tokens[:, i], i, cache) for i in range(tokens.shape[1])], dim=1)
    assert torch.allclose(steps, full, atol=1e-5)


@pytest.mark.parametrize("decoder", DECODERS)
def test_greedy_decoding_matches_the_recomputing_reference(decoder):
    m = model(decoder, seed=7)
    x, lengths = mels(4, 30, seed=3), torch.tensor([30, 28, 17, 5])
    fast = m.greedy_decode(x, lengths, max_steps=20)
    slow = greedy_decode_recompute(m, x, lengths, max_steps=20)
    assert torch.equal(fast, slow)
    assert fast.shape[0] == 4 and (fast[:, 0] == SOS).all() and fast.shape[1] <= 21


def test_greedy_decoding_stops_when_every_row_has_ended():
    m = model("lstm")
    with torch.no_grad():
        m.decoder.head.bias.fill_(0)
        m.decoder.head.bias[EOS] = 100.0  # always predicts the end token
    out = m.greedy_decode(mels(2, 10), max_steps=50)
    assert out.tolist() == [[SOS, EOS], [SOS, EOS]]


def toy_set(n: int, seed: int = 0) -> SpeechSet:
    rng = torch.Generator().manual_seed(seed)
    lengths = torch.randint(8, 40, (n,), generator=rng)
    texts = [("ab " * (i % 4 + 1)).strip() for i in range(n)]
    return SpeechSet([f"x{i}" for i in range(n)], texts,
                     [torch.randn(TINY.n_mels, int(t), generator=rng).half() for t in lengths], lengths,
                     encode_batch(texts))


def test_collate_pads_to_the_batch_or_to_a_fixed_length():
    data = toy_set(5)
    x, lengths, targets = collate(data, [0, 3])
    assert x.shape == (2, TINY.n_mels, int(data.lengths[[0, 3]].max())) and lengths.tolist() == data.lengths[[0, 3]].tolist()
    assert targets.shape == (2, TARGET_LEN)
    x, lengths, _ = collate(data, [0, 3], pad_to_frames=12)
    assert x.shape == (2, TINY.n_mels, 12) and lengths is None


def test_training_batches_cover_every_clip_once_and_bucket_by_length():
    lengths = torch.randint(10, 1000, (500,), generator=torch.Generator().manual_seed(0))
    batches = training_batches(lengths, 32, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(500))
    spread = np.mean([int(lengths[b].max() - lengths[b].min()) for b in batches])
    plain = training_batches(lengths, 32, np.random.default_rng(0), bucket=False)
    assert spread < 0.5 * np.mean([int(lengths[b].max() - lengths[b].min()) for b in plain])


def test_learning_rate_schedule():
    assert lr_factor(0, 15) == pytest.approx(0.01)
    assert lr_factor(1, 15) == pytest.approx(0.505)
    assert lr_factor(2, 15) == pytest.approx(1.0)
    assert lr_factor(15, 15) == pytest.approx(0.01)
    assert lr_factor(8.5, 15) == pytest.approx(1 - 0.99 * 6.5 / 13)


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_few_steps_fit_a_tiny_set_and_evaluation_reports_scores(decoder):
    data = toy_set(8)
    m = build_model(TINY, decoder, 0)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        x, lengths, targets = collate(data, list(range(8)))
        loss = sequence_loss(m, x, lengths, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]
    result = evaluate(m, data, 4, torch.device("cpu"), max_steps=12)
    assert set(result["scores"]) >= {"jaccard", "cosine", "damerau_levenshtein", "cer", "wer"}
    assert len(result["decoded"]) == 8 and result["loss"] > 0


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("decoder", DECODERS)
def test_training_killed_after_an_epoch_resumes_to_the_same_model(decoder, tmp_path, monkeypatch):
    """Interrupted after epoch 2 of 3, training resumes from the checkpoint and ends with identical weights."""
    from hw2.q3.training import train
    from pipeline.checkpoint import Checkpointer

    data = toy_set(12)
    from hw2.q3.training import TrainConfig

    cfg = TrainConfig(learning_rate=3e-3, epochs=3, pad_to_frames=None, lr_schedule="step", batch_size=4,
                      length_buckets=True, eval_batch_size=6)
    cpu = torch.device("cpu")
    whole_model = build_model(TINY, decoder, 0)
    whole = train(whole_model, data, data, cfg, cpu, seed=0)

    ck = Checkpointer(tmp_path / "key")
    real_save = Checkpointer.save

    def save_then_die(self, name, state):
        real_save(self, name, state)
        if len(state["history"]) == 2:
            raise _Interrupt(name)

    monkeypatch.setattr(Checkpointer, "save", save_then_die)
    with pytest.raises(_Interrupt):
        train(build_model(TINY, decoder, 0), data, data, cfg, cpu, seed=0, checkpoints=ck, checkpoint_name="run")
    monkeypatch.setattr(Checkpointer, "save", real_save)
    torch.manual_seed(123)  # a different global random state: the checkpoint must restore the one that counts
    resumed_model = build_model(TINY, decoder, 0)
    resumed = train(resumed_model, data, data, cfg, cpu, seed=0, checkpoints=ck, checkpoint_name="run")
    assert ck.resumed == ["run"] and len(resumed) == 3
    assert [h["train_loss"] for h in resumed] == [h["train_loss"] for h in whole]
    for (name, a), b in zip(whole_model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name


def test_the_attention_decoder_has_one_position_row_per_input_position_and_trains_them_all():
    from hw2.q3.tokenizer import DECODER_LEN

    m = build_model(TINY, "attention", 0)
    assert m.decoder.positions.shape == (DECODER_LEN, TINY.width) == (98, TINY.width)
    tokens = encode_batch(["a" * 97])  # the longest transcript: the decoder reads all 98 inputs
    sequence_loss(m, mels(1, 30), torch.tensor([30]), tokens).backward()
    assert (m.decoder.positions.grad.abs().sum(dim=1) > 0).all()  # no row left untrained
    out = m.eval().greedy_decode(mels(1, 30), max_steps=DECODER_LEN)  # a full-length decode stays in the table
    assert out.shape[1] <= DECODER_LEN + 1


@pytest.mark.parametrize("decoder", DECODERS)
def test_trimmed_targets_keep_the_outputs_and_the_text_loss(decoder):
    """Cutting the targets after the batch's longest transcript changes nothing at the positions kept."""
    from hw2.q3.training import position_losses, text_losses, trimmed

    m = model(decoder, seed=3)
    x, lengths = mels(3, 33), torch.tensor([33, 25, 9])
    targets = encode_batch(["abc de", "a", "abcdefgh"])  # longest: 8 characters -> 10 tokens with < and >
    cut = trimmed(targets)
    assert cut.shape == (3, 10) and (targets[:, 10:] == 2).all()  # only padding dropped
    with torch.no_grad():
        full, short = position_losses(m, x, lengths, targets), position_losses(m, x, lengths, cut)
        trained = float(sequence_loss(m, x, lengths, targets, trim=True))
    assert torch.allclose(short, full[:, :9], atol=1e-5)
    assert torch.allclose(text_losses(short, cut), text_losses(full, targets), atol=1e-6)
    assert trained == pytest.approx(float(full[:, :9].mean()), abs=1e-6)


def test_evaluation_loss_is_the_skeletons_over_all_98_positions_and_text_loss_over_the_transcript():
    import torch.nn.functional as F

    from hw2.q3.training import LABEL_SMOOTHING

    data = toy_set(6)
    m = model("lstm", seed=2)
    out = evaluate(m, data, 4, torch.device("cpu"), max_steps=5)
    x, lengths, targets = collate(data, list(range(6)))
    with torch.no_grad():
        logits = m(x, targets[:, :-1], lengths)
    skeleton = F.cross_entropy(logits.transpose(1, 2), targets[:, 1:], label_smoothing=LABEL_SMOOTHING)
    assert out["loss"] == pytest.approx(float(skeleton), abs=1e-5)
    per_position = F.cross_entropy(logits.transpose(1, 2), targets[:, 1:], label_smoothing=LABEL_SMOOTHING,
                                   reduction="none")
    text = targets[:, 1:] != 2
    by_hand = [float(per_position[i][text[i]].mean()) for i in range(6)]
    assert out["per_clip"]["text_loss"] == pytest.approx(by_hand, abs=1e-5)
    assert out["text_loss"] == pytest.approx(sum(by_hand) / 6, abs=1e-5)
    assert len(out["per_clip"]["cer"]) == 6 and set(out["per_clip"]["ended"]) <= {True, False}


def test_validation_uses_a_fixed_subset_and_records_the_tracked_transcripts():
    from hw2.q3.training import TrainConfig, train

    data = toy_set(10)
    cfg = TrainConfig(epochs=2, batch_size=5, eval_batch_size=4, learning_rate=3e-3, lr_schedule="step",
                      pad_to_frames=None, length_buckets=True, trim_targets=True, val_clips=4, tracked_clips=(1, 3),
                      max_decode_steps=6)
    hist = train(build_model(TINY, "attention", 0), data, data, cfg, torch.device("cpu"), seed=0, words={"ab"})
    assert [h["epoch"] for h in hist] == [1, 2]
    for h in hist:
        assert len(h["tracked"]) == 2 and set(h["tracked"][0]) == {"text", "cer", "known_words"}
        assert 0.0 <= h["val_known_words"] <= 1.0 and h["train_text_loss"] > 0
