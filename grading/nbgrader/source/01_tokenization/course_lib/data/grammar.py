"""The grammar of the course world, and a checker that says whether a sentence follows it.

A language model trained on the story corpus should learn to write sentences that follow this
grammar. Because we wrote the grammar ourselves we can *measure* how often it does:

    >>> from course_lib import data
    >>> data.check_sentence("Mia has a red kite.")
    True
    >>> data.check_sentence("Mia have a red kite.")        # wrong agreement
    False
    >>> data.grammar_report("Mia smiled. kite the Mia.").valid_fraction
    0.5

What the checker looks at, in order:

1. **Form.** A sentence ends with ".", "!" or "?", starts with a capital letter, has single spaces
   between words and no space before punctuation ("Mia's", "Then, she smiled.").
2. **Vocabulary.** Every word is one of the few hundred words in `vocabulary()`. Names are
   always capitalised ("Mia", never "mia").
3. **Structure and agreement.** The words must fit one of the sentence patterns below, with
   the verb agreeing with its subject ("Mia walks", "Mia and Tom walk"), "a" before a consonant
   and "an" before a vowel ("a red kite", "an orange kite"), subject pronouns as subjects ("she")
   and object pronouns as objects ("her"), at most one quality adjective before one colour ("a big
   red ball", not "a red big ball"), and a question word order for questions.

The sentence patterns, written as a small grammar (the parser below follows it rule by rule):

    sentence    -> [opener ","] core ("." | "!")  |  question "?"
    core        -> clause [("," ("but" | "so" | "and") | "because" | "and") clause]
                 | ("when" | "after" | "before") clause "," clause
    clause      -> noun_phrase[number] verb_phrase[number, tense]
                 | "there" be[number, tense] noun_phrase[number] modifiers
    noun_phrase -> name | pronoun | determiner nominal ["of" noun_phrase] | plural_nominal
                 | noun_phrase "and" noun_phrase                       (two people: plural)
    nominal     -> [quality_adjective] [colour] noun ["named" name]
    verb_phrase -> simple_vp ("and" simple_vp)*
    simple_vp   -> be ["not"] (adjectives | noun_phrase | prepositional_phrase) modifiers
                 | have noun_phrase modifiers
                 | do "not" base_vp  |  modal ["not"] base_vp
                 | verb (what the verb takes: nothing, an object, two objects, an
                         adjective, "to" + a verb, a greeting) modifiers
    modifiers   -> up to three of: prepositional_phrase | adverb | "every morning" | ...
    question    -> "who" verb_phrase
                 | wh_phrase be noun_phrase modifiers          (What colour is Mia's kite?)
                 | ("where" | "what" | "who") do noun_phrase base_verb modifiers
                 | do noun_phrase base_vp  |  be noun_phrase ...   (Does Mia have a dog?)

The parser is a memoised top-down parser: every rule is a method that takes a start position and
returns the set of positions where the rule can end. A sentence is valid if the top rule can end
exactly at the final punctuation mark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from . import lexicon as L

# --------------------------------------------------------------------------------------------
# Word tables, built once from lexicon.py
# --------------------------------------------------------------------------------------------

NAMES = frozenset(L.GIRL_NAMES + L.BOY_NAMES + L.PET_NAMES)

_ALL_NOUN_PAIRS = L.PERSON_NOUNS + L.ANIMAL_NOUNS + L.OBJECT_NOUNS + L.THING_NOUNS + L.OTHER_NOUNS
NOUNS_SG = frozenset([sg for sg, _ in _ALL_NOUN_PAIRS] + L.PLACE_NOUNS)
NOUNS_PL = frozenset(pl for _, pl in _ALL_NOUN_PAIRS)

COLOURS = frozenset(L.COLOURS)
QUALITY_ADJECTIVES = frozenset(L.TRAITS + L.FEELINGS + L.QUALITIES)
ADJECTIVES = COLOURS | QUALITY_ADJECTIVES

# Lexical verbs, by form. Each maps the word to the set of frames the verb takes.
VERB_BASE: dict[str, frozenset] = {}
VERB_3SG: dict[str, frozenset] = {}
VERB_PAST: dict[str, frozenset] = {}
for _base, _s3, _past, _frames in L.VERBS:
    VERB_BASE[_base] = frozenset(_frames)
    VERB_3SG[_s3] = frozenset(_frames)
    VERB_PAST[_past] = frozenset(_frames)

PRONOUNS_SUBJECT = dict(L.PRONOUNS_SUBJECT)
PRONOUNS_OBJECT = {"him": "sg", "her": "sg", "it": "sg", "them": "pl", "everyone": "sg"}
VP_PREPOSITIONS = frozenset(p for p in L.PREPOSITIONS if p != "of")  # "of" only inside a noun phrase
ADVERBS = frozenset(L.ADVERBS)
VOWELS = "aeiou"

# Every word that may appear in a sentence (names capitalised, everything else lower case).
_FUNCTION_WORDS = (
    list(PRONOUNS_SUBJECT) + list(PRONOUNS_OBJECT) + L.POSSESSIVES + L.DETERMINERS_SG
    + L.DETERMINERS_PL + L.DETERMINERS_ANY + L.PREPOSITIONS + L.ADVERBS + L.MODALS
    + L.CLAUSE_JOINERS_WITH_COMMA + L.CLAUSE_JOINERS_NO_COMMA + L.SUBORDINATORS + L.DEGREE
    + [L.NEGATION, "there", "named", "be", "have"] + L.WH_WORDS
    + list(L.BE_FORMS.values()) + list(L.HAVE_FORMS.values()) + list(L.DO_FORMS.values())
    + [w for phrase in L.ADVERB_PHRASES + L.OPENERS + L.GREETINGS for w in phrase]
)
_VOCAB = frozenset(
    list(NAMES) + list(NOUNS_SG) + list(NOUNS_PL) + list(ADJECTIVES)
    + list(VERB_BASE) + list(VERB_3SG) + list(VERB_PAST) + _FUNCTION_WORDS
)
PUNCTUATION = [",", ".", "!", "?", "'s"]


def vocabulary() -> list[str]:
    """Return the sorted word list of the grammar (names capitalised, other words lower case).

    Punctuation marks and the possessive "'s" are not words; they are listed in
    `course_lib.data.PUNCTUATION`.
    """
    return sorted(_VOCAB)


# --------------------------------------------------------------------------------------------
# Splitting text into sentences, and sentences into tokens
# --------------------------------------------------------------------------------------------

# A sentence is everything up to and including the next ".", "!" or "?".
_SENTENCE_RE = re.compile(r"[^.!?]*[.!?]")
# Tokens: words, the possessive 's, punctuation, whitespace, and "anything else" (always invalid).
_TOKEN_RE = re.compile(r"(?P<space>\s+)|(?P<word>[A-Za-z]+)|(?P<poss>'s(?![A-Za-z]))|(?P<punct>[,.!?])|(?P<other>.)")


def sentences(text: str) -> list[str]:
    """Split `text` into sentences, exactly as the grammar check does.

    A sentence ends at ".", "!" or "?". Runs of whitespace (including newlines) inside a
    sentence become single spaces. Text after the last end mark is an unfinished sentence and is
    ignored (a model's output cut off mid-sentence should not count either way).
    """
    out = []
    for match in _SENTENCE_RE.finditer(text):
        sentence = " ".join(match.group().split())
        if sentence:
            out.append(sentence)
    return out


def _tokenize(sentence: str) -> tuple[list[str] | None, str | None]:
    """Split one sentence into tokens, checking its form. Returns (tokens, None) or (None, reason)."""
    tokens: list[str] = []
    for m in _TOKEN_RE.finditer(sentence):
        kind = m.lastgroup
        if kind == "space":
            continue
        if kind == "other":
            return None, f"unexpected character {m.group()!r}"
        tokens.append(m.group())
    if not tokens:
        return None, "empty sentence"
    # The text must be written the standard way: words separated by one space, and no space
    # before punctuation or 's. We rebuild that spelling and compare.
    canonical = ""
    for tok in tokens:
        glue = tok in PUNCTUATION
        canonical += tok if (glue or not canonical) else " " + tok
    if canonical != " ".join(sentence.split()):
        return None, "spacing around punctuation"
    return tokens, None


def _normalise_words(tokens: list[str]) -> tuple[list[str] | None, str | None]:
    """Check capitalisation and vocabulary; return tokens with common words in lower case."""
    words = []
    for k, tok in enumerate(tokens):
        if tok in PUNCTUATION:
            words.append(tok)
            continue
        if tok in NAMES:
            words.append(tok)
            continue
        if k == 0:
            if not (tok[0].isupper() and (len(tok) == 1 or tok[1:].islower())):
                return None, f"the first word {tok!r} should start with a capital letter"
            low = tok.lower()
        elif tok.islower():
            low = tok
        else:
            return None, f"unexpected capital letter in {tok!r}"
        if low not in _VOCAB:
            if low.capitalize() in NAMES:
                return None, f"the name {low.capitalize()!r} must be capitalised"
            return None, f"unknown word {tok!r}"
        words.append(low)
    return words, None


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------

def _memo(method):
    """Cache a parser rule's result per (rule, arguments): each rule runs at most once per position."""
    name = method.__name__

    def wrapper(self, *args):
        key = (name, *args)
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = frozenset()  # guard: a rule that re-enters itself at the same spot fails
        result = frozenset(method(self, *args))
        self._memo[key] = result
        return result

    wrapper.__name__ = name
    wrapper.__doc__ = method.__doc__
    return wrapper


_NUMBERS = ("sg", "pl")
_TENSES = ("pres", "past")


class _Parser:
    """Parses one sentence (a list of words without the final punctuation mark).

    Every rule takes a start position and returns a set of end positions (for noun phrases, a
    set of (end, number) pairs), so ambiguity is handled for free: we simply keep all options.
    """

    MAX_MODIFIERS = 3

    def __init__(self, words: list[str]):
        self.w = words
        self._memo: dict = {}

    def tok(self, i: int) -> str | None:
        return self.w[i] if 0 <= i < len(self.w) else None

    def match(self, i: int, phrase: Iterable[str]) -> int | None:
        """If the words at i spell `phrase`, return the position after it."""
        for k, word in enumerate(phrase):
            if self.tok(i + k) != word:
                return None
        return i + len(tuple(phrase))

    # ---- noun phrases ----------------------------------------------------------------------

    @_memo
    def determiner(self, i):
        """a/an/the/his/Mia's/two/... -> {(end, number the noun must have)}"""
        t = self.tok(i)
        if t in ("a", "an"):
            nxt = self.tok(i + 1)
            # "an" before a vowel letter, "a" before a consonant (the vocabulary has no exceptions).
            if nxt and (t == "an") == (nxt[0] in VOWELS):
                yield (i + 1, "sg")
        elif t in L.DETERMINERS_SG:
            yield (i + 1, "sg")
        elif t in L.DETERMINERS_PL:
            yield (i + 1, "pl")
        elif t in L.DETERMINERS_ANY or t in L.POSSESSIVES:
            yield (i + 1, "any")
            if self.tok(i + 1) in ("two", "three"):  # "the two girls", "their three dogs"
                yield (i + 2, "pl")
        elif t in NAMES and self.tok(i + 1) == "'s":
            yield (i + 2, "any")

    @_memo
    def nominal(self, i):
        """[quality adjective] [colour] noun ["named" Name] -> {(end, number)}"""
        starts = [i]
        if self.tok(i) in QUALITY_ADJECTIVES:
            starts.append(i + 1)
        for s in list(starts):
            if self.tok(s) in COLOURS:
                starts.append(s + 1)
        for s in starts:
            t = self.tok(s)
            if t in NOUNS_SG:
                yield (s + 1, "sg")
                if self.tok(s + 1) == "named" and self.tok(s + 2) in NAMES:
                    yield (s + 3, "sg")
            if t in NOUNS_PL:
                yield (s + 1, "pl")

    @_memo
    def simple_np(self, i, case):
        """One noun phrase without "and". case is "subj" (she) or "obj" (her)."""
        t = self.tok(i)
        if t is None:
            return
        if t in NAMES:
            yield (i + 1, "sg")
        if case == "subj" and t in PRONOUNS_SUBJECT:
            yield (i + 1, PRONOUNS_SUBJECT[t])
        if case == "obj" and t in PRONOUNS_OBJECT:
            yield (i + 1, PRONOUNS_OBJECT[t])
        if case == "obj" and t == "each" and self.tok(i + 1) == "other":
            yield (i + 2, "pl")
        heads = set()
        for j, det_number in self.determiner(i):
            for k, number in self.nominal(j):
                if det_number in ("any", number):
                    heads.add((k, number))
        for k, number in self.nominal(i):  # a bare plural: "They were best friends."
            if number == "pl":
                heads.add((k, number))
        for k, number in heads:
            yield (k, number)
            if self.tok(k) == "of":  # "the name of Mia's dog"
                for m, _ in self.np(k + 1, "obj"):
                    yield (m, number)

    @_memo
    def np(self, i, case):
        """A noun phrase, possibly two joined by "and" (then it is plural)."""
        for j, number in self.simple_np(i, case):
            yield (j, number)
            if self.tok(j) == "and":
                for k, _ in self.simple_np(j + 1, case):
                    yield (k, "pl")

    # ---- modifiers, adjectives ------------------------------------------------------------

    @_memo
    def pp(self, i):
        """A prepositional phrase: "to the market", "with Tom"."""
        if self.tok(i) in VP_PREPOSITIONS:
            for j, _ in self.np(i + 1, "obj"):
                yield j

    @_memo
    def modifiers(self, i):
        """Zero to three of: prepositional phrase, adverb, adverb phrase ("every morning")."""
        reached = {i}
        frontier = {i}
        for _ in range(self.MAX_MODIFIERS):
            new = set()
            for p in frontier:
                if self.tok(p) in ADVERBS:
                    new.add(p + 1)
                for phrase in L.ADVERB_PHRASES:
                    end = self.match(p, phrase)
                    if end is not None:
                        new.add(end)
                new |= self.pp(p)
            frontier = new - reached
            reached |= new
        return reached

    def _one_adjective(self, i):
        j = i + 1 if self.tok(i) == "very" else i
        return {j + 1} if self.tok(j) in ADJECTIVES else set()

    @_memo
    def adjectives(self, i):
        """ "happy", "very happy", "tired and hungry" """
        ends = set(self._one_adjective(i))
        for j in list(ends):
            if self.tok(j) == "and":
                ends |= self._one_adjective(j + 1)
        return ends

    # ---- verb phrases ----------------------------------------------------------------------

    @_memo
    def be_complement(self, i):
        """What follows "is/was/be": ["not"] adjectives | noun phrase | place, then modifiers."""
        s = i + 1 if self.tok(i) == "not" else i
        for j in self.adjectives(s):
            yield from self.modifiers(j)
        for j, _ in self.np(s, "obj"):
            yield from self.modifiers(j)
        for j in self.modifiers(s):  # "was at the park", "was there"
            if j > s:
                yield j

    @_memo
    def complement(self, i, frames):
        """What follows a lexical verb, depending on the frames it takes (see lexicon.VERBS)."""
        if frames & {"intr", "motion"}:
            yield from self.modifiers(i)
        if frames & {"trans", "ditrans"}:
            for j, _ in self.np(i, "obj"):
                yield from self.modifiers(j)
        if "ditrans" in frames:
            for j, _ in self.np(i, "obj"):
                for k, _ in self.np(j, "obj"):
                    yield from self.modifiers(k)
        if "link" in frames:
            for j in self.adjectives(i):
                yield from self.modifiers(j)
        if "toinf" in frames and self.tok(i) == "to":
            yield from self.base_vp(i + 1)
        if "say" in frames:
            for greeting in L.GREETINGS:
                end = self.match(i, greeting)
                if end is not None:
                    yield from self.modifiers(end)

    @_memo
    def simple_base_vp(self, i):
        """A verb phrase with the verb in its base form: "find the ball", "be happy"."""
        t = self.tok(i)
        if t == "be":
            yield from self.be_complement(i + 1)
        if t == "have":
            for j, _ in self.np(i + 1, "obj"):
                yield from self.modifiers(j)
        if t in VERB_BASE:
            yield from self.complement(i + 1, VERB_BASE[t])

    @_memo
    def base_vp(self, i):
        ends = set(self.simple_base_vp(i))
        for j in list(ends):
            if self.tok(j) == "and":
                ends |= self.simple_base_vp(j + 1)
        return ends

    @_memo
    def simple_vp(self, i, number, tense):
        """A verb phrase whose first verb agrees with a subject of this number, in this tense."""
        t = self.tok(i)
        if t == L.BE_FORMS[(number, tense)]:
            yield from self.be_complement(i + 1)
        if t == L.HAVE_FORMS[(number, tense)]:
            for j, _ in self.np(i + 1, "obj"):
                yield from self.modifiers(j)
        if t == L.DO_FORMS[(number, tense)] and self.tok(i + 1) == "not":
            yield from self.base_vp(i + 2)
        if t in L.MODALS:
            yield from self.base_vp(i + 2 if self.tok(i + 1) == "not" else i + 1)
        if tense == "past":
            frames = VERB_PAST.get(t)
        elif number == "sg":
            frames = VERB_3SG.get(t)
        else:
            frames = VERB_BASE.get(t)
        if frames:
            yield from self.complement(i + 1, frames)

    @_memo
    def vp(self, i, number, tense):
        """One or more simple verb phrases joined by "and", all in the same tense."""
        ends = set(self.simple_vp(i, number, tense))
        frontier = set(ends)
        for _ in range(2):
            new = set()
            for j in frontier:
                if self.tok(j) == "and":
                    new |= self.simple_vp(j + 1, number, tense)
            frontier = new - ends
            ends |= new
        return ends

    # ---- clauses and sentences -------------------------------------------------------------

    @_memo
    def clause(self, i):
        for j, number in self.np(i, "subj"):
            for tense in _TENSES:
                yield from self.vp(j, number, tense)
        if self.tok(i) == "there":  # "There was a girl named Mia."
            for number in _NUMBERS:
                for tense in _TENSES:
                    if self.tok(i + 1) == L.BE_FORMS[(number, tense)]:
                        for j, np_number in self.np(i + 2, "obj"):
                            if np_number == number:
                                yield from self.modifiers(j)

    @_memo
    def core(self, i):
        for j in self.clause(i):
            yield j
            if self.tok(j) == "," and self.tok(j + 1) in L.CLAUSE_JOINERS_WITH_COMMA:
                yield from self.clause(j + 2)
            if self.tok(j) in L.CLAUSE_JOINERS_NO_COMMA:
                yield from self.clause(j + 1)
        if self.tok(i) in L.SUBORDINATORS:  # "When Mia saw the kite, she smiled."
            for j in self.clause(i + 1):
                if self.tok(j) == ",":
                    yield from self.clause(j + 1)

    def declarative(self) -> bool:
        end = len(self.w)
        starts = [0]
        for opener in L.OPENERS:
            j = self.match(0, opener)
            if j is not None and self.tok(j) == ",":
                starts.append(j + 1)
        return any(end in self.core(s) for s in starts)

    def question(self) -> bool:
        end = len(self.w)
        t0 = self.tok(0)
        # "Who has a red kite?"
        if t0 == "who" and any(end in self.vp(1, "sg", tense) for tense in _TENSES):
            return True
        # "What colour is Mia's kite?", "Whose dog is Rex?", "What kind of animal is Rex?"
        wh_ends = []
        if t0 in ("what", "who"):
            wh_ends.append(1)
        if t0 == "what" and self.tok(1) == "colour":
            wh_ends.append(2)
        if t0 == "what" and self.tok(1) == "kind" and self.tok(2) == "of" and self.tok(3) in NOUNS_SG:
            wh_ends.append(4)
        if t0 == "whose" and (self.tok(1) in NOUNS_SG or self.tok(1) in NOUNS_PL):
            wh_ends.append(2)
        for w in wh_ends:
            for (number, tense), be in L.BE_FORMS.items():
                if self.tok(w) == be:
                    for j, np_number in self.np(w + 1, "subj"):
                        if np_number == number and end in self.modifiers(j):
                            return True
        # "Where does Mia live?", "What did Tom find?": the question word fills a gap.
        if t0 in ("where", "what", "who"):
            for (number, tense), do in L.DO_FORMS.items():
                if self.tok(1) != do:
                    continue
                for j, np_number in self.np(2, "subj"):
                    if np_number != number:
                        continue
                    verb = self.tok(j)
                    frames = VERB_BASE.get(verb, frozenset())
                    if t0 == "where":
                        ok = bool(frames & {"intr", "motion"})
                    else:
                        ok = verb == "have" or bool(frames & {"trans", "ditrans"})
                    if ok and end in self.modifiers(j + 1):
                        return True
        # Yes/no questions: "Does Mia have a dog?", "Is Mia happy?", "Can Tom find it?"
        for (number, tense) in L.DO_FORMS:
            for j, np_number in self.np(1, "subj"):
                if np_number != number:
                    continue
                if t0 == L.DO_FORMS[(number, tense)] and end in self.base_vp(j):
                    return True
                if t0 == L.BE_FORMS[(number, tense)] and end in self.be_complement(j):
                    return True
        if t0 in L.MODALS:
            for j, _ in self.np(1, "subj"):
                if end in self.base_vp(j):
                    return True
        return False


MAX_TOKENS = 60  # longer "sentences" are run-ons; the stories never need more than about 30


def why_invalid(sentence: str) -> str | None:
    """Return None if `sentence` is valid in the world's grammar, else a short reason.

    Useful for learners ("unknown word 'kiet'") and for tests that check a sentence fails for
    the reason we think it does.
    """
    sentence = " ".join(sentence.split())
    if not sentence:
        return "empty sentence"
    if sentence[-1] not in ".!?":
        return "no final '.', '!' or '?'"
    tokens, reason = _tokenize(sentence)
    if reason:
        return reason
    if any(t in ".!?" for t in tokens[:-1]):
        return "more than one sentence"
    words, reason = _normalise_words(tokens)
    if reason:
        return reason
    if len(words) > MAX_TOKENS:
        return "too long"
    body, final = words[:-1], words[-1]
    if not body:
        return "empty sentence"
    parser = _Parser(body)
    ok = parser.question() if final == "?" else parser.declarative()
    return None if ok else "does not fit the grammar (word order or agreement)"


def check_sentence(sentence: str) -> bool:
    """True if `sentence` (one sentence, with its final punctuation) is valid in the world's grammar.

    Valid means: known words, correct capitalisation and spacing, and a structure the grammar
    allows, with agreement (subject/verb, a/an, pronoun case, adjective order).
    """
    return why_invalid(sentence) is None


@dataclass
class GrammarReport:
    """How many sentences of a text are valid in the world's grammar."""

    n_sentences: int
    n_valid: int
    valid_fraction: float
    invalid_examples: list[str] = field(default_factory=list)  # a few, for a human to read

    def __str__(self) -> str:
        lines = [f"{self.n_valid}/{self.n_sentences} sentences valid ({100 * self.valid_fraction:.1f}%)"]
        for ex in self.invalid_examples:
            lines.append(f"  invalid: {ex}")
        return "\n".join(lines)


def grammar_report(text: str, max_examples: int = 5) -> GrammarReport:
    """Split `text` into sentences (see `sentences`) and check each one.

    `valid_fraction` is 0.0 for a text with no complete sentence.
    """
    sents = sentences(text)
    n_valid = 0
    invalid = []
    for s in sents:
        if check_sentence(s):
            n_valid += 1
        elif len(invalid) < max_examples:
            invalid.append(s)
    frac = n_valid / len(sents) if sents else 0.0
    return GrammarReport(len(sents), n_valid, frac, invalid)
