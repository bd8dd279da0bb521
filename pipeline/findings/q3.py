"""Q3's findings: the claims its section makes, decided from its results.

Decoders are compared on the test set by a paired bootstrap over the test clips (the
same clips, per-clip scores in results.json), or by the seed-to-seed spread when the
profile repeats training over seeds.  "Ahead" always means beyond twice the noise of
the difference; otherwise the two are "tied".  Every threshold a sentence rests on is
a constant below, with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hw2.q3.ljspeech import SAMPLE_RATE
from pipeline.findings import Comparison, Listing, compare_over_seeds, compare_paired
from pipeline.findings.data import DataFindings, data_findings

# Words for a word error rate, from the best band it falls in.  WER counts word edits per
# reference word: 0.1 is about one word in ten to fix, 0.3 about one in three, above 0.6
# more words to fix than to keep.  On a stand-in of a small synthetic vocabulary these say
# how well the transcripts read, not how the model would do on real speech.
WER_BANDS: tuple[tuple[float, str], ...] = (
    (0.10, "nearly_every_word"),  # nearly every word right
    (0.30, "most_words"),  # most words right
    (0.60, "many_wrong"),  # many words wrong
    (float("inf"), "most_wrong"),  # most words wrong
)
# Output that "reads like the corpus": at least nine in ten of the words written are words of
# the training transcripts.
FLUENT_WORDS = 0.9
# Output that "follows the audio": a character error rate below one half, i.e. fewer
# character edits than half the reference's length.
FOLLOWS_AUDIO_CER = 0.5
# The epochs whose tracked transcripts the report shows (those that exist), and the last one.
SHOWN_EPOCHS = (1, 2, 4)
# Characters of an untrained transcript shown before it is cut with an ellipsis.
SHOWN_CHARS = 60
DECODER_ORDER = ("lstm", "attention")
SHORT_NAMES = {"lstm": "LSTM", "attention": "attention"}  # in narrow table columns


def _plain(x: Any) -> Any:
    """Return the JSON value behind a ResultsView (a plain dict or list unchanged)."""
    return getattr(x, "raw", x)


def _floats(xs: Any) -> list[float]:
    return [float(x) for x in _plain(xs)]


# --------------------------------------------------------------------------- decoders compared


@dataclass(frozen=True)
class DecoderComparison:
    """One measure of the two trained decoders compared on the test set: a = LSTM, b = attention."""

    metric: str  # the key in results.json
    cmp: Comparison
    ahead: str | None  # title of the decoder ahead beyond the noise; None when tied
    behind: str | None

    @property
    def tied(self) -> bool:
        return self.cmp.tied


def compare_decoders(r: Any, metric: str, *, higher_is_better: bool, digits: int = 3) -> DecoderComparison:
    """Compare the trained LSTM and attention decoders on ``metric``: paired bootstrap over the test clips, or
    the seed spread when training was repeated over seeds."""
    L, A = r["decoders"]["lstm"], r["decoders"]["attention"]
    n_seeds = len(r["training"]["seeds"])
    if n_seeds > 1:
        cmp = compare_over_seeds(L["test"][metric], A["test"][metric], L["test_sd"].get(metric),
                                 A["test_sd"].get(metric), n_seeds, higher_is_better=higher_is_better, digits=digits)
    else:
        cmp = compare_paired(L["test"][metric], A["test"][metric], _floats(L["per_clip"]["trained"][metric]),
                             _floats(A["per_clip"]["trained"][metric]), higher_is_better=higher_is_better,
                             digits=digits)
    titles = (str(L["title"]), str(A["title"]))
    ahead = None if cmp.tied else titles[0 if cmp.a_ahead else 1]
    behind = None if cmp.tied else titles[1 if cmp.a_ahead else 0]
    return DecoderComparison(metric, cmp, ahead, behind)


@dataclass(frozen=True)
class Versus:
    """The trained decoders compared on the test set, and where the measures disagree."""

    dl: DecoderComparison
    cer: DecoderComparison
    wer: DecoderComparison
    loss: DecoderComparison
    repeated: bool  # over seeds (noise: seed spread) rather than one run (noise: paired bootstrap)

    @property
    def cer_wer_disagree(self) -> bool:
        """CER and WER each separate the decoders, in opposite directions."""
        return not self.cer.tied and not self.wer.tied and self.cer.ahead != self.wer.ahead

    @property
    def loss_scores_disagree(self) -> bool:
        """The test loss and the Damerau-Levenshtein similarity each separate the decoders, in opposite directions."""
        return not self.loss.tied and not self.dl.tied and self.loss.ahead != self.dl.ahead

    @property
    def dl_and_cer_agree(self) -> bool:
        """Damerau-Levenshtein and CER name the same decoder ahead (both beyond the noise)."""
        return not self.dl.tied and not self.cer.tied and self.dl.ahead == self.cer.ahead

    @property
    def all_tied(self) -> bool:
        return self.dl.tied and self.cer.tied and self.wer.tied


def versus(r: Any) -> Versus:
    """Return the decoder comparisons on the test set."""
    return Versus(dl=compare_decoders(r, "damerau_levenshtein", higher_is_better=True),
                  cer=compare_decoders(r, "cer", higher_is_better=False),
                  wer=compare_decoders(r, "wer", higher_is_better=False),
                  loss=compare_decoders(r, "loss", higher_is_better=False),
                  repeated=len(r["training"]["seeds"]) > 1)


# --------------------------------------------------------------------------- each decoder


@dataclass(frozen=True)
class Quality:
    """How well one trained decoder transcribes the test set, in calibrated words."""

    title: str
    wer: float
    cer: float
    band: str  # a key of WER_BANDS
    beats_chance: Comparison  # its CER against the CER of its transcript of another clip (paired)

    @property
    def nearly_every_word(self) -> bool:
        return self.band == "nearly_every_word"

    @property
    def most_words(self) -> bool:
        return self.band == "most_words"

    @property
    def many_wrong(self) -> bool:
        return self.band == "many_wrong"

    @property
    def most_wrong(self) -> bool:
        return self.band == "most_wrong"

    @property
    def learnt(self) -> bool:
        """Its transcripts are closer to the clip's reference than a transcript of another clip is, beyond noise."""
        return self.beats_chance.a_ahead


def wer_band(wer: float) -> str:
    """Return the key of the first band of ``WER_BANDS`` that ``wer`` does not exceed."""
    return next(key for limit, key in WER_BANDS if float(wer) <= limit)


def quality(r: Any, name: str) -> Quality:
    """Return the calibrated wording for decoder ``name``'s test scores and whether it beats chance."""
    d = r["decoders"][name]
    other = d["audio"]["other"]
    cmp = compare_paired(d["test"]["cer"], other["scores"]["cer"], _floats(d["per_clip"]["trained"]["cer"]),
                         _floats(other["per_clip_cer"]), higher_is_better=False)
    return Quality(str(d["title"]), d["test"]["wer"], d["test"]["cer"], wer_band(d["test"]["wer"]), cmp)


@dataclass(frozen=True)
class UntrainedOutput:
    """What one untrained decoder wrote on the test clips: lengths against the references."""

    title: str
    clips: int
    shortest: int  # characters written before ``>`` (or the step limit)
    longest: int
    longer: int  # clips where it wrote more characters than the reference has
    shorter: int
    hit_limit: int  # clips where no ``>`` came within the step limit
    cer: float

    @property
    def one_as_long(self) -> bool:
        """Exactly one clip's output had as many characters as its reference."""
        return self.clips - self.longer - self.shorter == 1

    @property
    def same_length(self) -> bool:
        """Every output had the same length."""
        return self.shortest == self.longest

    @property
    def all_longer(self) -> bool:
        return self.longer == self.clips

    @property
    def all_shorter(self) -> bool:
        return self.shorter == self.clips

    @property
    def mostly_longer(self) -> bool:
        return 2 * self.longer > self.clips

    @property
    def mostly_shorter(self) -> bool:
        return 2 * self.shorter > self.clips

    @property
    def none_hit_limit(self) -> bool:
        return self.hit_limit == 0

    @property
    def all_hit_limit(self) -> bool:
        return self.hit_limit == self.clips

    @property
    def cer_above_one(self) -> bool:
        """Its mean CER exceeds 1: more edits than reference characters (insertions count too)."""
        return float(self.cer) > 1.0


def untrained_output(r: Any, name: str) -> UntrainedOutput:
    """Return the lengths of what decoder ``name`` wrote untrained, from the per-clip records."""
    d = r["decoders"][name]
    clips = _plain(d["per_clip"]["untrained"])
    written, refs, ended = clips["pred_chars"], clips["ref_chars"], clips["ended"]
    return UntrainedOutput(
        title=str(d["title"]), clips=len(written), shortest=min(written), longest=max(written),
        longer=sum(w > f for w, f in zip(written, refs)), shorter=sum(w < f for w, f in zip(written, refs)),
        hit_limit=sum(not e for e in ended), cer=d["untrained"]["cer"])


@dataclass(frozen=True)
class Shown:
    """An untrained transcript as the report prints it: cut with an ellipsis only when it is longer."""

    text: str
    cut: bool  # the report shows only its first SHOWN_CHARS characters
    ended: bool  # the decoder wrote ``>`` (False: it ran to the step limit)


def shown(text: str, ended: bool) -> Shown:
    """Return ``text`` as printed: its first SHOWN_CHARS characters, and whether anything was cut."""
    return Shown(text[:SHOWN_CHARS], len(text) > SHOWN_CHARS, bool(ended))


# --------------------------------------------------------------------------- learning


@dataclass(frozen=True)
class Snapshot:
    """A tracked validation clip's transcript after one epoch."""

    epoch: int
    text: str
    cer: float
    known_words: float | None
    last: bool


@dataclass(frozen=True)
class TrackedClip:
    """One validation clip followed through training: its reference and each decoder's transcripts."""

    id: str
    reference: str
    decoders: tuple[tuple[str, tuple[Snapshot, ...]], ...]  # (decoder's short name, snapshots at the shown epochs)


@dataclass(frozen=True)
class Progress:
    """How one decoder's validation output changed over the epochs (all the validation clips used)."""

    title: str
    fluent_epoch: int | None  # first epoch whose output was >= FLUENT_WORDS corpus words (None: never)
    follows_epoch: int | None  # first epoch with validation CER < FOLLOWS_AUDIO_CER (None: never)
    first_known_words: float | None
    first_train_loss: float  # training text loss of the first epoch
    last_train_loss: float
    first_cer: float
    last_cer: float
    best_dl: float
    best_dl_epoch: int
    lowest_val_loss_epoch: int  # epoch of the lowest validation text loss
    epochs: int

    @property
    def fluent_before_following(self) -> bool:
        """Its output read like the corpus at an earlier epoch than it followed the audio."""
        return self.fluent_epoch is not None and (self.follows_epoch is None or self.fluent_epoch < self.follows_epoch)

    @property
    def val_loss_lowest_at_end(self) -> bool:
        return self.lowest_val_loss_epoch == self.epochs

    @property
    def known_words_recorded(self) -> bool:
        return self.first_known_words is not None


def shown_epochs(epochs: int) -> list[int]:
    """Return the epochs whose tracked transcripts are shown: SHOWN_EPOCHS that exist, and the last."""
    return sorted({e for e in SHOWN_EPOCHS if e <= epochs} | {epochs})


def tracked_clips(r: Any) -> tuple[TrackedClip, ...]:
    """Return the tracked validation clips with each decoder's transcript after the shown epochs."""
    out = []
    for k, clip in enumerate(r["training"]["tracked"]):
        per_decoder = []
        for name in _decoders(r):
            hist = r["decoders"][name]["history"]
            epochs = shown_epochs(len(hist))
            snaps = tuple(Snapshot(e, str(hist[e - 1]["tracked"][k]["text"]), hist[e - 1]["tracked"][k]["cer"],
                                   _plain(hist[e - 1]["tracked"][k]).get("known_words"), e == len(hist))
                          for e in epochs)
            per_decoder.append((SHORT_NAMES[name], snaps))
        out.append(TrackedClip(str(clip["id"]), str(clip["reference"]), tuple(per_decoder)))
    return tuple(out)


def progress(r: Any, name: str) -> Progress:
    """Return when decoder ``name``'s validation output first read like the corpus and first followed the audio."""
    d = r["decoders"][name]
    hist = list(d["history"])
    known = [_plain(h).get("val_known_words") for h in hist]
    cers = [h["val_scores"]["cer"] for h in hist]
    fluent = next((i + 1 for i, k in enumerate(known) if k is not None and float(k) >= FLUENT_WORDS), None)
    follows = next((i + 1 for i, c in enumerate(cers) if float(c) < FOLLOWS_AUDIO_CER), None)
    dls = [h["val_scores"]["damerau_levenshtein"] for h in hist]
    best = max(range(len(dls)), key=lambda i: float(dls[i]))
    losses = [float(h["val_text_loss"]) for h in hist]
    return Progress(title=str(d["title"]), fluent_epoch=fluent, follows_epoch=follows,
                    first_known_words=known[0], first_train_loss=hist[0]["train_text_loss"],
                    last_train_loss=hist[-1]["train_text_loss"], first_cer=cers[0], last_cer=cers[-1],
                    best_dl=dls[best],
                    best_dl_epoch=best + 1, lowest_val_loss_epoch=losses.index(min(losses)) + 1, epochs=len(hist))


# --------------------------------------------------------------------------- listening to the audio


@dataclass(frozen=True)
class Listening:
    """One trained decoder heard with its clips' own audio, another clip's audio, and silence."""

    title: str
    clips: int  # clips heard with other audio and silence
    test_clips: int
    own_loss: float  # mean text loss (transcript positions) with the clip's own audio
    other_loss: float
    silence_loss: float
    silence_rise: float  # silence_loss - own_loss: what the audio is worth to the loss
    other_rise: float
    other_scores: Any  # scores of its transcript of another clip against this clip's reference
    silence_ended: float  # fraction of silent clips where it wrote ``>``
    silence_training_sentence: float  # fraction of silent clips where it wrote a training transcript verbatim
    silence_known_words: float
    silence_distinct: int
    silence_most_common: str
    silence_most_common_count: int
    own_training_sentence: float  # the same with the true audio, for comparison
    own_known_words: float  # fraction of the words written with the true audio that are corpus words
    other_vs_silence: Comparison  # a = text loss with another clip's audio, b = with silence (lower is better)

    @property
    def other_worse_than_silence(self) -> bool:
        """Another clip's audio raises the loss more than silence does, beyond the noise."""
        return self.other_vs_silence.b_ahead

    @property
    def subset(self) -> bool:
        """The losses and the silence decoding used only the first ``clips`` test clips."""
        return int(self.clips) < int(self.test_clips)

    @property
    def silence_all_same(self) -> bool:
        return self.silence_distinct == 1

    @property
    def silence_fluent(self) -> bool:
        return float(self.silence_known_words) >= FLUENT_WORDS

    @property
    def silence_empty(self) -> bool:
        """Its most common output under silence is empty (it writes ``>`` at once)."""
        return self.silence_most_common == ""


def listening(r: Any, name: str) -> Listening:
    """Return what decoder ``name`` does with the right audio, another clip's, and silence."""
    d = r["decoders"][name]
    a = d["audio"]
    return Listening(
        title=str(d["title"]), clips=a["clips"], test_clips=a["test_clips"], own_loss=a["own"]["text_loss"], other_loss=a["other"]["text_loss"],
        silence_loss=a["silence"]["text_loss"], silence_rise=a["silence"]["text_loss"] - a["own"]["text_loss"],
        other_rise=a["other"]["text_loss"] - a["own"]["text_loss"], other_scores=a["other"]["scores"],
        silence_ended=a["silence"]["ended"], silence_training_sentence=a["silence"]["training_sentence"],
        silence_known_words=a["silence"]["known_words"], silence_distinct=a["silence"]["distinct"],
        silence_most_common=str(a["silence"]["most_common"]),
        silence_most_common_count=a["silence"]["most_common_count"],
        own_training_sentence=a["own"]["training_sentence"], own_known_words=a["own"]["known_words"],
        other_vs_silence=compare_paired(a["other"]["text_loss"], a["silence"]["text_loss"],
                                        _floats(a["other"]["per_clip_text_loss"]),
                                        _floats(a["silence"]["per_clip_text_loss"]), higher_is_better=False))


def _rises(r: Any, name: str, condition: str) -> list[float]:
    """Per clip: text loss under ``condition`` (other or silence) minus the text loss with the own audio."""
    a = _plain(r["decoders"][name]["audio"])
    return [c - o for c, o in zip(a[condition]["per_clip_text_loss"], a["own"]["per_clip_text_loss"])]


@dataclass(frozen=True)
class AudioReliance:
    """Which decoder relies more on the audio: the rise of its loss when the audio is taken away."""

    lstm: Listening
    attention: Listening
    silence: Comparison  # a = LSTM's rise, b = attention's rise; "ahead" = the larger rise
    other: Comparison
    silence_more: str | None  # title of the decoder whose loss rises more without audio (None: tied)
    silence_less: str | None
    prior: Comparison  # the text loss under silence (lower: a better guess from the text alone)
    prior_better: str | None  # title of the decoder that guesses better from the text alone (None: tied)

    @property
    def decoders(self) -> tuple[Listening, Listening]:
        return (self.lstm, self.attention)

    @property
    def any_other_worse(self) -> bool:
        """For at least one decoder another clip's audio costs more than silence, beyond the noise."""
        return any(x.other_worse_than_silence for x in self.decoders)


def audio_reliance(r: Any) -> AudioReliance:
    """Return both decoders' listening records and the paired comparisons of what the audio is worth to each."""
    L, A = listening(r, "lstm"), listening(r, "attention")
    silence = compare_paired(L.silence_rise, A.silence_rise, _rises(r, "lstm", "silence"),
                             _rises(r, "attention", "silence"), higher_is_better=True)
    other = compare_paired(L.other_rise, A.other_rise, _rises(r, "lstm", "other"), _rises(r, "attention", "other"),
                           higher_is_better=True)
    la, aa = (_plain(r["decoders"][n]["audio"]) for n in ("lstm", "attention"))
    prior = compare_paired(L.silence_loss, A.silence_loss, la["silence"]["per_clip_text_loss"],
                           aa["silence"]["per_clip_text_loss"], higher_is_better=False)
    return AudioReliance(L, A, silence, other, _title(silence, L, A, ahead=True), _title(silence, L, A, ahead=False),
                         prior, _title(prior, L, A, ahead=True))


def _title(cmp: Comparison, a: Listening, b: Listening, *, ahead: bool) -> str | None:
    """Return the title of the decoder ahead (``ahead``) or behind in ``cmp``; None when tied."""
    if cmp.tied:
        return None
    return a.title if cmp.a_ahead == ahead else b.title


# --------------------------------------------------------------------------- the scores themselves


@dataclass(frozen=True)
class ScoreRow:
    """One row of the test table's three similarities, and whether Damerau-Levenshtein is the lowest."""

    label: str
    jaccard: float
    cosine: float
    dl: float

    @property
    def dl_lowest(self) -> bool:
        return float(self.dl) <= float(self.jaccard)


@dataclass(frozen=True)
class ScoreOrder:
    """Where Damerau-Levenshtein is not the lowest of the three similarities (cosine >= Jaccard always holds)."""

    rows: tuple[ScoreRow, ...]
    exceptions: Listing  # labels of rows where Damerau-Levenshtein is above Jaccard

    @property
    def dl_always_lowest(self) -> bool:
        return self.exceptions.empty


def score_order(r: Any) -> ScoreOrder:
    """Return, for each row of the test table, whether Damerau-Levenshtein is below Jaccard."""
    rows = []
    for name in _decoders(r):
        d = r["decoders"][name]
        for kind, scores in (("trained", d["test"]), ("untrained", d["untrained"])):
            rows.append(ScoreRow(f"{kind} {d['title']}", scores["jaccard"], scores["cosine"],
                                 scores["damerau_levenshtein"]))
    return ScoreOrder(tuple(rows), Listing(tuple(row.label for row in rows if not row.dl_lowest)))


# --------------------------------------------------------------------------- cost


@dataclass(frozen=True)
class Cost:
    """What training cost: processes, epoch times, CPU time and memory."""

    side_by_side: bool
    processes: int
    lstm_epoch_s: float
    attention_epoch_s: float
    lstm_epoch_cpu_s: float | None  # mean CPU time of an epoch (None: not recorded)
    attention_epoch_cpu_s: float | None

    @property
    def cpu_per_epoch_recorded(self) -> bool:
        return self.lstm_epoch_cpu_s is not None and self.attention_epoch_cpu_s is not None
    wall_s: float
    cpu_s: float
    peak_pss_mb: float | None  # all processes together (sampled)
    memory_sampled: bool
    load_start: float  # one-minute load average when the run started
    load_end: float


def _epoch_cpu(r: Any, name: str) -> float | None:
    """Return the mean CPU seconds of decoder ``name``'s epochs, or None when they were not recorded."""
    hist = list(r["decoders"][name]["history"])
    if not all("cpu_s" in _plain(h) for h in hist):
        return None
    return sum((h["cpu_s"] for h in hist[1:]), hist[0]["cpu_s"]) / len(hist)


def cost(r: Any) -> Cost:
    """Return the training cost facts from the timings and memory records."""
    t, mem = r["timings"], _plain(r["memory"])
    pss = mem["all_processes_peak_pss_mb"]
    return Cost(side_by_side=bool(r["training"]["side_by_side"]), processes=r["training"]["processes"],
                lstm_epoch_s=r["decoders"]["lstm"]["epoch_time_s"],
                attention_epoch_s=r["decoders"]["attention"]["epoch_time_s"],
                lstm_epoch_cpu_s=_epoch_cpu(r, "lstm"), attention_epoch_cpu_s=_epoch_cpu(r, "attention"),
                wall_s=t["total_s"], cpu_s=t["cpu_s"], peak_pss_mb=pss, memory_sampled=pss is not None,
                load_start=t["load_average_start"][0], load_end=t["load_average_end"][0])


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class LossCell:
    """One decoder's training and validation text loss after one epoch."""

    train: float
    val: float


@dataclass(frozen=True)
class LossRow:
    """One row of the per-epoch loss table: the epoch, then a cell per decoder (in results order)."""

    epoch: int
    cells: tuple[LossCell, ...]


def loss_rows(r: Any) -> tuple[LossRow, ...]:
    """Return the per-epoch text losses of every decoder, as table rows."""
    hists = [r["decoders"][n]["history"] for n in r["decoders"].keys()]
    return tuple(LossRow(i + 1, tuple(LossCell(h[i]["train_text_loss"], h[i]["val_text_loss"]) for h in hists))
                 for i in range(min(len(h) for h in hists)))


@dataclass(frozen=True)
class SpreadCell:
    """A standard deviation over seeds for the test table, or its absence (fewer than two seeds finished)."""

    value: float | None

    @property
    def known(self) -> bool:
        return self.value is not None


SD_COLUMNS = ("loss", "jaccard", "cosine", "damerau_levenshtein", "cer", "wer")


def sd_rows(r: Any) -> dict[str, tuple[SpreadCell, ...]]:
    """Return, per decoder, the seed-to-seed standard deviation of each test-table column."""
    out = {}
    for name in r["decoders"].keys():
        sd = _plain(r["decoders"][name]["test_sd"])
        out[name] = tuple(SpreadCell(r["decoders"][name]["test_sd"][key] if sd.get(key) is not None else None)
                          for key in SD_COLUMNS)
    return out


@dataclass(frozen=True)
class Constants:
    """The thresholds the section's sentences use, for the template to print."""

    fluent_words: float = FLUENT_WORDS
    follows_cer: float = FOLLOWS_AUDIO_CER
    shown_chars: int = SHOWN_CHARS


# --------------------------------------------------------------------------- the section


def _decoders(r: Any) -> list[str]:
    return [n for n in DECODER_ORDER if n in r["decoders"]]


@dataclass(frozen=True)
class Findings:
    """What the Q3 section says."""

    data: DataFindings
    generated: bool  # the stand-in corpus, not LJ Speech
    repeated: bool  # training repeated over seeds
    versus: Versus
    quality: tuple[Quality, ...]
    all_learnt: bool
    untrained: tuple[UntrainedOutput, ...]
    untrained_example: tuple[tuple[str, Shown], ...]  # (decoder title, its untrained transcript of the first example)
    progress: tuple[Progress, ...]
    tracked: tuple[TrackedClip, ...]
    reliance: AudioReliance
    order: ScoreOrder
    cost: Cost
    lower_loss_leans_on_text: bool  # loss and similarity disagree, and the decoder with the lower loss is the one
    #                                 whose loss rises less without the audio (beyond noise)
    published_agrees: bool  # the decoder ahead here on DL (beyond noise) is the one ahead in the published runs
    published_disagrees: bool  # the other one is ahead here
    published_leader: str  # title of the decoder with the higher published DL
    loss_rows: tuple[LossRow, ...]
    sd_rows: dict[str, tuple[SpreadCell, ...]]
    shown_epochs: tuple[int, ...]
    skeleton_filterbank: bool  # the mel filterbank was built for 16 kHz as the skeleton's
    schedule_per_step: bool  # the learning rate is updated every batch (the skeleton: every epoch)
    masks: bool  # batches padded to their longest clip, with key-padding masks
    validation_subset: bool  # validation on a fixed part of the validation clips
    constants: Constants = Constants()


def findings(r: Any) -> Findings:
    """Return Q3's findings from its results (a ResultsView or a plain dict)."""
    names = _decoders(r)
    vs = versus(r)
    qualities = tuple(quality(r, n) for n in names)
    first = r["examples"][0]
    pub = r["published"]
    leader = "lstm" if float(pub["lstm"]["damerau_levenshtein"]) > float(pub["attention"]["damerau_levenshtein"]) \
        else "attention"
    leader_title = str(r["decoders"][leader]["title"])
    reliance = audio_reliance(r)
    return Findings(
        data=data_findings(r["corpus"]["search"]),
        generated=bool(r["corpus"]["generated"]),
        repeated=vs.repeated,
        versus=vs,
        quality=qualities,
        all_learnt=all(q.learnt for q in qualities),
        untrained=tuple(untrained_output(r, n) for n in names),
        untrained_example=tuple((str(r["decoders"][n]["title"]),
                                 shown(str(first["untrained"][n]["text"]), first["untrained"][n]["ended"]))
                                for n in names),
        progress=tuple(progress(r, n) for n in names),
        tracked=tracked_clips(r),
        reliance=reliance,
        order=score_order(r),
        cost=cost(r),
        lower_loss_leans_on_text=vs.loss_scores_disagree and reliance.silence_less == vs.loss.ahead,
        published_agrees=not vs.dl.tied and vs.dl.ahead == leader_title,
        published_disagrees=not vs.dl.tied and vs.dl.ahead != leader_title,
        published_leader=leader_title,
        loss_rows=loss_rows(r),
        sd_rows=sd_rows(r),
        shown_epochs=tuple(shown_epochs(min(len(r["decoders"][n]["history"]) for n in names))),
        skeleton_filterbank=int(r["training"]["filterbank_rate"]) != SAMPLE_RATE,
        schedule_per_step=r["meta"]["config"]["lr_schedule"] == "step",
        masks=bool(r["training"]["masks"]),
        validation_subset=int(r["training"]["val_clips"]) < int(r["training"]["val_total"]),
    )


__all__ = ["Findings", "findings", "WER_BANDS", "FLUENT_WORDS", "FOLLOWS_AUDIO_CER", "shown_epochs", "wer_band"]
