"""A seeded grammar of plain English sentences for the generated speech corpus.

The sentences look like ordinary written English (statements, questions, reported
speech, dates, counts), use a vocabulary of several hundred words, spell numbers
out ("twenty-one", "eighteen sixty-three"), choose "a" or "an" by the sound of the
next word, and use only punctuation the ASR tokenizer knows: , . ? -

``generate_sentences(n, seed)`` returns ``n`` distinct sentences; the same ``(n, seed)``
gives the same list.  ``digits_version`` rewrites spelled-out numbers as digits (what
LJ Speech's "raw" column looks like).
"""

from __future__ import annotations

import random
import re

# ----------------------------------------------------------------------------- vocabulary

NOUNS = """
farmer teacher doctor sailor soldier printer baker clerk judge writer painter
student captain officer driver merchant lawyer nurse pilot gardener miller
neighbour stranger visitor prisoner witness hunter tailor singer banker
dog horse cat bird fox rabbit cow sheep goat owl
house garden window door table chair letter book paper lamp clock bottle
basket box bag coat hat boot ribbon knife spoon plate cup kettle candle
bridge river road street field forest hill village town station harbour
market church school shop office tower wall gate fence well barn mill cottage
ship boat train wagon cart carriage bicycle engine machine
apple orange onion egg loaf cake pie cheese
morning evening night winter summer autumn storm wind cloud
story song picture map note message report record question answer
umbrella envelope island ocean elephant eagle instrument engineer inspector
""".split()

IRREGULAR_PLURALS = {"sheep": "sheep", "knife": "knives", "loaf": "loaves", "child": "children"}

ADJECTIVES = """
old young small large tall short quiet loud bright dark heavy light warm cold
wet dry clean dirty empty full narrow wide long quick slow careful careless
happy sad angry tired hungry busy lazy brave shy proud honest polite gentle
strange famous simple plain rich poor new ancient broken wooden yellow red
green blue brown white black grey golden silver early late certain serious
open closed lonely friendly silent sudden distant nearby pleasant curious
elderly important interesting unusual excellent ordinary orange
""".split()

HYPHENATED_ADJECTIVES = """
well-known old-fashioned half-empty long-haired red-faced bad-tempered
good-natured left-handed so-called second-hand
""".split()

# (base form, past tense) of transitive verbs
VERBS = [
    ("see", "saw"), ("find", "found"), ("carry", "carried"), ("open", "opened"),
    ("close", "closed"), ("paint", "painted"), ("repair", "repaired"), ("sell", "sold"),
    ("buy", "bought"), ("bring", "brought"), ("take", "took"), ("watch", "watched"),
    ("follow", "followed"), ("visit", "visited"), ("build", "built"), ("clean", "cleaned"),
    ("drop", "dropped"), ("lift", "lifted"), ("pull", "pulled"), ("push", "pushed"),
    ("read", "read"), ("write", "wrote"), ("send", "sent"), ("keep", "kept"),
    ("lose", "lost"), ("hide", "hid"), ("show", "showed"), ("count", "counted"),
    ("measure", "measured"), ("describe", "described"), ("examine", "examined"),
    ("remember", "remembered"), ("forget", "forgot"), ("answer", "answered"),
    ("borrow", "borrowed"), ("deliver", "delivered"), ("collect", "collected"),
    ("notice", "noticed"), ("admire", "admired"), ("guard", "guarded"),
    ("wash", "washed"), ("fill", "filled"), ("cover", "covered"), ("mend", "mended"),
    ("draw", "drew"), ("catch", "caught"), ("leave", "left"), ("hold", "held"),
]

# intransitive verbs: (base, past)
INTRANSITIVE = [
    ("arrive", "arrived"), ("laugh", "laughed"), ("wait", "waited"), ("sleep", "slept"),
    ("sing", "sang"), ("smile", "smiled"), ("shout", "shouted"), ("run", "ran"),
    ("walk", "walked"), ("return", "returned"), ("disappear", "disappeared"),
    ("listen", "listened"), ("work", "worked"), ("rest", "rested"), ("speak", "spoke"),
]

# manner adverbs go after a verb or before it; frequency adverbs only before it
ADVERBS = """
quickly slowly quietly loudly carefully suddenly gladly gently eagerly calmly early late
""".split()
FREQUENCY_ADVERBS = "often always never rarely already certainly perhaps nearly".split()

NAMES = """
Anna Thomas Mary John Edward Alice Henry Clara Walter Emily Arthur Laura
Oliver Grace Samuel Helen George Ruth Albert Martha Daniel Irene Oscar Ellen
""".split()

PLACES = """
London Boston Paris Dublin Chicago Lisbon Oxford Bristol Denver Glasgow
""".split()

PREPOSITIONS = ["near", "behind", "beside", "under", "inside", "across", "beyond", "along", "outside"]
TIMES = [
    "in the morning", "in the evening", "at night", "on sunday", "on monday", "on friday",
    "after dinner", "before noon", "last week", "the next day", "that winter",
    "every summer", "at dawn", "in the afternoon",
]
MONTHS = "january february march april may june july august september october november december".split()
SAY_VERBS = ["said", "wrote", "explained", "told us", "reported", "believed", "thought", "admitted"]
CONNECTORS = ["and", "but", "so", "while", "because", "although"]

ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
       "sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split()

# words whose spelling misleads the a/an choice
AN_BY_SOUND = {"hour", "honest", "honour", "heir"}
A_BY_SOUND = {"one", "once", "university", "uniform", "useful", "european", "unique", "union"}


# ----------------------------------------------------------------------------- helpers

def number_words(n: int) -> str:
    """Return ``n`` (0..9999) spelled out in British style: 'three hundred and twenty-one'."""
    if not 0 <= n <= 9999:
        raise ValueError(f"number out of range: {n}")
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS[tens] + ("-" + ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return ONES[hundreds] + " hundred" + (" and " + number_words(rest) if rest else "")
    thousands, rest = divmod(n, 1000)
    if rest == 0:
        return ONES[thousands] + " thousand"
    joiner = " and " if rest < 100 else " "
    return ONES[thousands] + " thousand" + joiner + number_words(rest)


def year_words(year: int) -> str:
    """Return a year read aloud: 1863 -> 'eighteen sixty-three', 1900 -> 'nineteen hundred'."""
    century, rest = divmod(year, 100)
    if rest == 0:
        return number_words(century) + " hundred"
    if rest < 10:
        return number_words(century) + " oh " + ONES[rest]
    return number_words(century) + " " + number_words(rest)


def article(word: str) -> str:
    """Return 'a' or 'an' for the word that follows it (by sound, with common exceptions)."""
    w = word.lower().split("-")[0]
    if w in AN_BY_SOUND:
        return "an"
    if w in A_BY_SOUND or w.startswith(("uni", "eu", "one")):
        return "a"
    if w in ("eight", "eighteen", "eighty", "eleven") or w.startswith("eight"):
        return "an"
    return "an" if w[:1] in "aeiou" else "a"


def plural(noun: str) -> str:
    """Return the plural of ``noun``."""
    if noun in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def digits_version(sentence: str) -> str:
    """Return ``sentence`` with spelled-out counts (1..999) and years as digits (LJ Speech's raw column style)."""
    table = {number_words(n): str(n) for n in range(1, 1000)}
    table.update({year_words(y): str(y) for y in range(1801, 2000)})
    pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True)) + r")\b",
                         re.IGNORECASE)
    return pattern.sub(lambda m: table[m.group(0).lower()], sentence)


def vocabulary() -> set[str]:
    """Return every word the grammar can produce (lowercase, hyphenated words split)."""
    words: set[str] = set()
    for group in (NOUNS, ADJECTIVES, HYPHENATED_ADJECTIVES, ADVERBS, FREQUENCY_ADVERBS, NAMES, PLACES, PREPOSITIONS,
                  TIMES, MONTHS, SAY_VERBS, CONNECTORS, ONES, TENS, ORDINALS):
        for item in group:
            words.update(item.lower().replace("-", " ").split())
    words.update(plural(n) for n in NOUNS)
    for base, past in VERBS + INTRANSITIVE:
        words.update((base, past))
    words.update("a an the this that his her their our my some two hundred thousand and oh "
                 "did was were is there in on at of said to what why where when who with by "
                 "very quite".split())
    return words


# ----------------------------------------------------------------------------- grammar

class _Grammar:
    """The productions; every choice draws from one ``random.Random``."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def pick(self, items):
        return self.rng.choice(items)

    def maybe(self, p: float) -> bool:
        return self.rng.random() < p

    def adjective(self) -> str:
        return self.pick(HYPHENATED_ADJECTIVES) if self.maybe(0.12) else self.pick(ADJECTIVES)

    def noun_phrase(self, definite_p: float = 0.5) -> str:
        words = []
        if self.maybe(0.45):
            words.append(self.adjective())
        words.append(self.pick(NOUNS))
        if self.maybe(definite_p):
            det = self.pick(["the", "the", "the", "this", "that", "his", "her", "their", "our", "my"])
        else:
            det = article(words[0])
        return " ".join([det] + words)

    def counted_phrase(self) -> str:
        n = self.rng.choice([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 20, 21, 34, 48, 57, 63, 99]) \
            if self.maybe(0.7) else self.rng.randint(2, 999)
        adj = self.adjective() + " " if self.maybe(0.3) else ""
        return f"{number_words(n)} {adj}{plural(self.pick(NOUNS))}"

    def subject(self) -> str:
        return self.pick(NAMES) if self.maybe(0.3) else self.noun_phrase()

    def object(self) -> str:
        return self.counted_phrase() if self.maybe(0.2) else self.noun_phrase()

    def place_phrase(self) -> str:
        if self.maybe(0.25):
            return "in " + self.pick(PLACES)
        return self.pick(PREPOSITIONS) + " " + self.noun_phrase(definite_p=0.8)

    def clause(self) -> str:
        if self.maybe(0.2):
            base, past = self.pick(INTRANSITIVE)
            adv = " " + self.pick(ADVERBS) if self.maybe(0.5) else ""
            return f"{self.subject()} {past}{adv}"
        base, past = self.pick(VERBS)
        adv = self.pick(ADVERBS + FREQUENCY_ADVERBS) + " " if self.maybe(0.2) else ""
        tail = " " + self.place_phrase() if self.maybe(0.35) else ""
        return f"{self.subject()} {adv}{past} {self.object()}{tail}"

    def date_phrase(self) -> str:
        year = self.rng.randint(1801, 1999)
        if self.maybe(0.5):
            return f"in {year_words(year)}"
        day = self.rng.randint(1, 12)
        return f"on the {ORDINALS[day - 1]} of {self.pick(MONTHS)}"

    def sentence(self) -> str:
        kind = self.rng.random()
        if kind < 0.28:
            s = self.clause() + "."
        elif kind < 0.42:
            s = f"{self.pick(TIMES)}, {self.clause()}."
        elif kind < 0.52:
            s = f"{self.date_phrase()}, {self.clause()}."
        elif kind < 0.62:
            s = f"{self.clause()}, {self.pick(CONNECTORS)} {self.clause()}."
        elif kind < 0.70:
            s = f"{self.subject()} {self.pick(SAY_VERBS)} that {self.clause()}."
        elif kind < 0.78:
            base, _ = self.pick(VERBS)
            s = f"did {self.subject()} {base} {self.object()}?"
        elif kind < 0.84:
            wh = self.pick(["why", "where", "when", "how"])
            base, _ = self.pick(VERBS)
            s = f"{wh} did {self.subject()} {base} {self.object()}?"
        elif kind < 0.92:
            s = f"there were {self.counted_phrase()} {self.place_phrase()}."
        else:
            very = "very " if self.maybe(0.3) else ""
            s = f"{self.noun_phrase(definite_p=0.9)} was {very}{self.adjective()} and {self.adjective()}."
        return s[0].upper() + s[1:]


def generate_sentences(n: int, seed: int, max_chars: int = 90, min_words: int = 4) -> list[str]:
    """Return ``n`` distinct sentences of at most ``max_chars`` characters, drawn with ``seed``."""
    grammar = _Grammar(random.Random(seed))
    seen: set[str] = set()
    out: list[str] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise RuntimeError(f"the grammar could not produce {n} distinct sentences")
        s = grammar.sentence()
        if len(s) > max_chars or len(s.split()) < min_words or s in seen:
            continue
        seen.add(s)
        out.append(s)
    return out
