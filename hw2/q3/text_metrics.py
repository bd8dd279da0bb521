"""Scores for transcripts: the course's three textdistance similarities, CER and WER.

The course compares character strings built from token sequences:

* the reference is the target without ``<``, cut *after* its first ``>`` (so it
  keeps the ``>``), and
* the prediction is the greedy output without ``<``, cut *at* its first ``>``
  (so it has no ``>``),

then takes ``textdistance``'s ``jaccard``, ``cosine`` and ``damerau_levenshtein``
``normalized_similarity`` of the two (characters as multisets for the first two)
and averages each over the set.  The error rates compare the plain texts (no
special tokens): edit distance over the reference length, in characters (CER)
or in words (WER).  Both are 0 for a perfect transcript and unbounded above.
"""

from __future__ import annotations

from collections import Counter

import textdistance

SIMILARITIES = ("jaccard", "cosine", "damerau_levenshtein")


def reference_string(target_text: str) -> str:
    """Return the reference as the course scores it: ``text>`` (``<`` dropped, cut after the first ``>``)."""
    text = target_text[1:] if target_text.startswith("<") else target_text
    head, sep, _ = text.partition(">")
    return head + sep


def prediction_string(decoded_text: str) -> str:
    """Return the prediction as the course scores it: ``<`` dropped, cut at the first ``>``."""
    text = decoded_text[1:] if decoded_text.startswith("<") else decoded_text
    return text.split(">", 1)[0]


def jaccard_similarity(reference: str, prediction: str) -> float:
    """Return |A ∩ B| / |A ∪ B| over the two strings' character multisets."""
    return float(textdistance.jaccard.normalized_similarity(reference, prediction))


def cosine_similarity(reference: str, prediction: str) -> float:
    """Return |A ∩ B| / sqrt(|A| |B|) over the two strings' character multisets."""
    return float(textdistance.cosine.normalized_similarity(reference, prediction))


def damerau_levenshtein_similarity(reference: str, prediction: str) -> float:
    """Return 1 - (edits incl. adjacent swaps) / (length of the longer string)."""
    return float(textdistance.damerau_levenshtein.normalized_similarity(reference, prediction))


def similarity_breakdown(reference: str, prediction: str) -> dict:
    """Return the counts behind the three similarities of one pair, to show how each is computed.

    Multiset sizes |A|, |B|, |A ∩ B|, |A ∪ B| (characters with repeats), the Damerau-Levenshtein
    distance and the longer length, next to the three scores themselves.
    """
    a, b = Counter(reference), Counter(prediction)
    inter, union = sum((a & b).values()), sum((a | b).values())
    distance = int(textdistance.damerau_levenshtein.distance(reference, prediction))
    return {
        "reference": reference,
        "prediction": prediction,
        "len_reference": len(reference),
        "len_prediction": len(prediction),
        "intersection": inter,
        "union": union,
        "dl_distance": distance,
        "max_len": max(len(reference), len(prediction)),
        "jaccard": jaccard_similarity(reference, prediction),
        "cosine": cosine_similarity(reference, prediction),
        "damerau_levenshtein": damerau_levenshtein_similarity(reference, prediction),
    }


def edit_distance(a, b) -> int:
    """Return the Levenshtein distance between two sequences (characters or words)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def character_error_rate(reference: str, prediction: str) -> float:
    """Return character edits / reference length (plain texts, no special tokens)."""
    return edit_distance(reference, prediction) / max(len(reference), 1)


def word_error_rate(reference: str, prediction: str) -> float:
    """Return word edits / number of reference words (plain texts, split on spaces)."""
    ref_words = reference.split()
    return edit_distance(ref_words, prediction.split()) / max(len(ref_words), 1)


def score_pair(target_text: str, decoded_text: str) -> dict[str, float]:
    """Return the three course similarities, CER and WER for one target/greedy-output pair.

    ``target_text`` and ``decoded_text`` are token strings that may carry ``<``, ``>`` and ``@``.
    """
    ref, pred = reference_string(target_text), prediction_string(decoded_text)
    plain_ref, plain_pred = ref.rstrip(">").replace("@", ""), pred.replace("@", "")
    return {
        "jaccard": jaccard_similarity(ref, pred),
        "cosine": cosine_similarity(ref, pred),
        "damerau_levenshtein": damerau_levenshtein_similarity(ref, pred),
        "cer": character_error_rate(plain_ref, plain_pred),
        "wer": word_error_rate(plain_ref, plain_pred),
    }


def mean_scores(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Return each score of ``score_pair`` averaged over (target, decoded) pairs.

    CER and WER are also given corpus-level (total edits / total reference length)
    as ``cer_corpus`` and ``wer_corpus``.
    """
    if not pairs:
        return {}
    rows = [score_pair(t, d) for t, d in pairs]
    out = {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]}
    char_edits = char_total = word_edits = word_total = 0
    for target, decoded in pairs:
        ref = reference_string(target).rstrip(">").replace("@", "")
        pred = prediction_string(decoded).replace("@", "")
        char_edits += edit_distance(ref, pred)
        char_total += len(ref)
        word_edits += edit_distance(ref.split(), pred.split())
        word_total += len(ref.split())
    out["cer_corpus"] = char_edits / max(char_total, 1)
    out["wer_corpus"] = word_edits / max(word_total, 1)
    return out
