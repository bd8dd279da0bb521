"""Scores for transcripts: the course's three textdistance similarities, CER and WER.

The course compares character strings built from token sequences:

* the reference is the target without ``<``, cut *after* its first ``>`` (so it
  keeps the ``>``), and
* the prediction is the greedy output without ``<``, cut *at* its first ``>``
  (so it has no ``>``),

then takes ``textdistance``'s ``jaccard``, ``cosine`` and ``damerau_levenshtein``
``normalized_similarity`` of the two (characters as multisets for the first two)
and averages each over the set.  textdistance's ``damerau_levenshtein`` is the
*restricted* variant, the optimal string alignment distance: an adjacent swap counts
as one edit, but a swapped pair is never edited again (so "ca" -> "abc" costs 3, not
the 2 of the unrestricted distance).  ``osa_distance`` computes the same number with
plain lists, about five times faster than textdistance's pure-Python version (a test
checks both agree on thousands of random pairs).  The error rates compare the plain texts (no
special tokens): edit distance over the reference length, in characters (CER)
or in words (WER).  Both are 0 for a perfect transcript and unbounded above.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

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


def osa_distance(a: str, b: str) -> int:
    """Return the restricted Damerau-Levenshtein (optimal string alignment) distance between two strings.

    Insertions, deletions, substitutions and swaps of two adjacent characters each cost one
    edit, and no substring is edited twice: the number ``textdistance.damerau_levenshtein``
    computes (its default, restricted form), row by row with lists.
    """
    if a == b:
        return 0
    if not a or not b:
        return max(len(a), len(b))
    n = len(b)
    before: list[int] = []  # row i - 2
    prev = list(range(n + 1))  # row i - 1
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * n
        for j in range(1, n + 1):
            cb = b[j - 1]
            cost = ca != cb
            best = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb and before[j - 2] + cost < best:
                best = before[j - 2] + cost  # swap of two adjacent characters
            cur[j] = best
        before, prev = prev, cur
    return prev[n]


def damerau_levenshtein_similarity(reference: str, prediction: str) -> float:
    """Return 1 - (restricted Damerau-Levenshtein distance) / (length of the longer string).

    Equal to ``textdistance.damerau_levenshtein.normalized_similarity`` (1 for two empty strings).
    """
    longest = max(len(reference), len(prediction))
    return 1.0 if longest == 0 else 1.0 - osa_distance(reference, prediction) / longest


def similarity_breakdown(reference: str, prediction: str) -> dict:
    """Return the counts behind the three similarities of one pair, to show how each is computed.

    Multiset sizes |A|, |B|, |A ∩ B|, |A ∪ B| (characters with repeats), the Damerau-Levenshtein
    distance and the longer length, next to the three scores themselves.
    """
    a, b = Counter(reference), Counter(prediction)
    inter, union = sum((a & b).values()), sum((a | b).values())
    distance = osa_distance(reference, prediction)
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


SCORES = ("jaccard", "cosine", "damerau_levenshtein", "cer", "wer")


@dataclass(frozen=True)
class PairScore:
    """The scores of one (target, greedy output) pair, with the counts behind the error rates."""

    jaccard: float
    cosine: float
    damerau_levenshtein: float
    cer: float
    wer: float
    char_edits: int  # Levenshtein distance between the plain texts
    ref_chars: int
    word_edits: int
    ref_words: int
    pred_chars: int  # length of the plain prediction (what the decoder wrote before its first ``>``)
    ended: bool  # the output contains ``>``; False when decoding hit its step limit

    def scores(self) -> dict[str, float]:
        """Return the five scores as a dict (``SCORES`` order)."""
        return {key: getattr(self, key) for key in SCORES}


def score_details(target_text: str, decoded_text: str) -> PairScore:
    """Return the three course similarities, CER and WER of one pair, with their counts.

    ``target_text`` and ``decoded_text`` are token strings that may carry ``<``, ``>`` and ``@``.
    """
    ref, pred = reference_string(target_text), prediction_string(decoded_text)
    plain_ref, plain_pred = ref.rstrip(">").replace("@", ""), pred.replace("@", "")
    char_edits = edit_distance(plain_ref, plain_pred)
    ref_words, pred_words = plain_ref.split(), plain_pred.split()
    word_edits = edit_distance(ref_words, pred_words)
    body = decoded_text[1:] if decoded_text.startswith("<") else decoded_text
    return PairScore(
        jaccard=jaccard_similarity(ref, pred),
        cosine=cosine_similarity(ref, pred),
        damerau_levenshtein=damerau_levenshtein_similarity(ref, pred),
        cer=char_edits / max(len(plain_ref), 1),
        wer=word_edits / max(len(ref_words), 1),
        char_edits=char_edits, ref_chars=len(plain_ref), word_edits=word_edits, ref_words=len(ref_words),
        pred_chars=len(plain_pred), ended=">" in body,
    )


def score_pair(target_text: str, decoded_text: str) -> dict[str, float]:
    """Return the three course similarities, CER and WER for one target/greedy-output pair."""
    return score_details(target_text, decoded_text).scores()


def summarize(details: list[PairScore]) -> dict[str, float]:
    """Return each score averaged over the pairs, and CER and WER corpus-level (total edits / total length)
    as ``cer_corpus`` and ``wer_corpus``."""
    if not details:
        return {}
    out = {key: sum(getattr(d, key) for d in details) / len(details) for key in SCORES}
    out["cer_corpus"] = sum(d.char_edits for d in details) / max(sum(d.ref_chars for d in details), 1)
    out["wer_corpus"] = sum(d.word_edits for d in details) / max(sum(d.ref_words for d in details), 1)
    return out


def mean_scores(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Return each score of ``score_pair`` averaged over (target, decoded) pairs, and the corpus-level rates."""
    return summarize([score_details(t, d) for t, d in pairs])


def words_of(text: str) -> list[str]:
    """Return the words of ``text``: split on spaces, with commas, full stops and question marks stripped."""
    return [w for w in (t.strip(",.?") for t in text.split()) if w]


def corpus_words(texts: list[str]) -> set[str]:
    """Return the set of words that occur in ``texts`` (as ``words_of`` splits them)."""
    return {word for text in texts for word in words_of(text)}


def transcript_words(texts: list[str]) -> set[str]:
    """Return the words of raw transcripts as a perfect decoder would write them (tokenized: lowercase,
    cut to 97 characters, unknown characters as ``#``)."""
    from hw2.q3.tokenizer import encode, strip_special

    return corpus_words([strip_special(encode(t)) for t in texts])


def known_word_fraction(text: str, words: set[str]) -> float:
    """Return the fraction of the words of ``text`` that are in ``words`` (0 for a text without words)."""
    tokens = words_of(text)
    return sum(t in words for t in tokens) / len(tokens) if tokens else 0.0
