"""Q3 text side: the tokenizer and the scores, on examples worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from hw2.q3 import text_metrics as tm
from hw2.q3.tokenizer import ALPHABET, EOS, PAD, SOS, TARGET_LEN, UNK, VOCAB_SIZE, decode, encode, encode_batch, strip_special


def test_alphabet_is_the_skeletons():
    assert VOCAB_SIZE == 35
    assert ALPHABET[:9] == "<>@# ,.?-"
    assert (SOS, EOS, PAD, UNK) == (0, 1, 2, 3)
    assert ALPHABET[9:] == "abcdefghijklmnopqrstuvwxyz"


def test_encode_lowercases_marks_unknown_and_pads():
    assert decode(encode("Hi, Bob!")) == "<hi, bob#>"
    batch = encode_batch(["ab", "c" * 200])
    assert batch.shape == (2, TARGET_LEN)
    assert decode(batch[0]) == "<ab>" + "@" * (TARGET_LEN - 4)
    assert decode(batch[1]) == "<" + "c" * 97 + ">"  # cut to 97 characters
    assert strip_special(batch[0]) == "ab"
    assert batch.dtype == torch.long


def test_course_strings_cut_reference_after_and_prediction_at_eos():
    assert tm.reference_string("<cat>@@@") == "cat>"
    assert tm.prediction_string("<cut>xyz") == "cut"
    assert tm.prediction_string("<cutcut") == "cutcut"  # no end token: the whole output


def test_three_similarities_on_a_hand_worked_pair():
    # reference "cat>" = {c, a, t, >}, prediction "cut" = {c, u, t}: 2 shared characters
    ref, pred = "cat>", "cut"
    assert tm.jaccard_similarity(ref, pred) == pytest.approx(2 / 5)  # |A∩B| / |A∪B|
    assert tm.cosine_similarity(ref, pred) == pytest.approx(2 / math.sqrt(4 * 3))
    # a -> u, delete > : 2 edits over the longer length 4
    assert tm.damerau_levenshtein_similarity(ref, pred) == pytest.approx(1 - 2 / 4)


def test_similarities_count_repeats_and_swaps():
    # multisets: "aab" vs "ab" share {a, b}; union {a, a, b}
    assert tm.jaccard_similarity("aab", "ab") == pytest.approx(2 / 3)
    assert tm.cosine_similarity("aab", "ab") == pytest.approx(2 / math.sqrt(3 * 2))
    # an adjacent swap is one edit for Damerau-Levenshtein, two for Levenshtein
    assert tm.damerau_levenshtein_similarity("abcd", "abdc") == pytest.approx(1 - 1 / 4)
    assert tm.edit_distance("abcd", "abdc") == 2


def test_breakdown_agrees_with_the_scores():
    b = tm.similarity_breakdown("the cat>", "the cut")
    assert (b["intersection"], b["union"]) == (6, 9)
    assert b["jaccard"] == pytest.approx(b["intersection"] / b["union"])
    assert b["cosine"] == pytest.approx(b["intersection"] / math.sqrt(b["len_reference"] * b["len_prediction"]))
    assert b["damerau_levenshtein"] == pytest.approx(1 - b["dl_distance"] / b["max_len"])
    assert b["dl_distance"] == 2


def test_error_rates():
    assert tm.character_error_rate("abcd", "abxd") == pytest.approx(1 / 4)
    assert tm.word_error_rate("the old dog ran", "the dog ran far") == pytest.approx(2 / 4)  # delete old, insert far
    assert tm.character_error_rate("ab", "abababab") == pytest.approx(3.0)  # unbounded above
    s = tm.score_pair("<the dog>@@", "<the dog>@@")
    assert s["cer"] == 0 and s["wer"] == 0 and s["damerau_levenshtein"] < 1  # the course strings differ by ">"


def test_mean_scores_average_and_corpus_rates():
    pairs = [("<ab>", "<ab>"), ("<abcd>", "<xbcd>")]
    m = tm.mean_scores(pairs)
    assert m["cer"] == pytest.approx((0 + 1 / 4) / 2)
    assert m["cer_corpus"] == pytest.approx(1 / 6)
    assert m["wer"] == pytest.approx(0.5)


def test_osa_distance_equals_textdistance_on_random_pairs():
    """The list-based distance is the number textdistance's damerau_levenshtein computes (the handout's reference)."""
    import random

    import textdistance

    rng = random.Random(0)
    alphabet = "ab cd>"  # few letters: many repeats and adjacent swaps
    for _ in range(5000):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert tm.osa_distance(a, b) == textdistance.damerau_levenshtein.distance(a, b), (a, b)
        assert tm.damerau_levenshtein_similarity(a, b) == pytest.approx(
            textdistance.damerau_levenshtein.normalized_similarity(a, b), abs=1e-12), (a, b)


def test_osa_is_the_restricted_variant():
    # "ca" -> "abc": the unrestricted distance is 2 (swap, then insert between), the restricted one 3
    assert tm.osa_distance("ca", "abc") == 3
    assert tm.osa_distance("abcd", "badc") == 2  # two separate adjacent swaps
    assert tm.osa_distance("", "abc") == 3 and tm.osa_distance("abc", "abc") == 0


def test_score_details_lengths_and_end_token():
    d = tm.score_details("<the dog>@@", "<the do>xyz")
    assert (d.pred_chars, d.ref_chars, d.ended) == (6, 7, True)
    cut = tm.score_details("<ab>", "<" + "ab" * 49)
    assert not cut.ended and cut.pred_chars == 98
    assert tm.summarize([d, cut])["cer"] == pytest.approx((d.cer + cut.cer) / 2)
