"""Preference pairs for RLHF (notebook 09), labelled by a hidden rule that stands in for raters.

The "raters" prefer an answer that

* **answers the question**: one of its first two sentences (not a question) gives something of
  the kind asked for (a colour for "What colour ...?", a place for "Where ...?", a name for
  "Who ...?") that the question itself does not already contain;
* **is polite**: "Good question!", "I hope this helps!", ...; and is **not rude**: "Go away.";
* **does not ramble**: at most `CONCISE_WORDS` words.

Like real raters, they do not check facts: a polite wrong answer scores as well as a polite right
one. Correctness is measured separately (`qa_accuracy`), which lets the RLHF notebook show
both what the reward model learned and what it did not.

`preference_score` is the rule; `preference_pairs` samples pairs of answers and labels them with
it, flipping a fraction `noise` of the labels (marked `noisy=True`), as real human labels are
noisy too.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from . import lexicon as L
from ._util import cap, rng_for
from .qa import USER_PREFIX, QAPair, chat_prompt, qa_pairs
from .world import World

CONCISE_WORDS = 20            # longer answers ramble
WEIGHT_ANSWERS = 1.0
WEIGHT_POLITE = 0.5
WEIGHT_RUDE = -1.0
WEIGHT_ASKS_QUESTION = -0.5
WEIGHT_PER_EXTRA_WORD = -0.05

POLITE_MARKERS = ["please", "thank you", "thanks for asking", "happy to help", "glad to help",
                  "i hope this helps", "good question", "great question", "of course"]
RUDE_MARKERS = ["stop asking", "go away", "ugh", "whatever", "everyone knows", "silly question",
                "stupid", "boring", "obviously", "leave me alone"]

_WORD_RE = re.compile(r"[A-Za-z]+")
_CHARACTER_NAMES = frozenset(n.lower() for n in L.GIRL_NAMES + L.BOY_NAMES)
_ANSWER_TYPES = {
    "colour": frozenset(L.COLOURS),
    "place": frozenset(L.PLACE_NOUNS),
    "character": _CHARACTER_NAMES,
    "pet_name": frozenset(n.lower() for n in L.PET_NAMES),
    "animal": frozenset(sg for sg, _ in L.ANIMAL_NOUNS),
    "trait": frozenset(L.TRAITS),
}


def _has_marker(text: str, markers: list[str]) -> bool:
    low = " ".join(_WORD_RE.findall(text.lower()))
    return any(re.search(rf"\b{re.escape(m)}\b", low) for m in markers)


def question_of(prompt: str) -> str:
    """The question inside a prompt: the text after the last "User: " (or the whole prompt)."""
    if USER_PREFIX in prompt:
        prompt = prompt.rsplit(USER_PREFIX, 1)[1]
    return prompt.strip().split("\n", 1)[0].strip()


def expected_answer_type(question: str) -> str | None:
    """What kind of word answers this question: "colour", "place", "character", ... (None if unknown)."""
    q = question.lower()
    if "colour" in q:
        return "colour"
    if q.startswith("where") or q.startswith("tell me where"):
        return "place"
    if q.startswith("what is the name of"):
        return "pet_name"
    if q.startswith("what kind of animal"):
        return "animal"
    if q.startswith("what kind of"):
        return "trait"
    if q.startswith("who"):  # who, whose
        return "character"
    return None


def behaviour_flags(prompt: str, answer: str) -> dict[str, bool]:
    """The parts of the rule, for one answer: answers, polite, rude, asks_question, rambles, preferred.

    `preferred` is the behaviour the raters want: answers, polite, not rude, no question back,
    no rambling. The RLHF notebook reports how often a model's answers have it.
    """
    question = question_of(prompt)
    asked = {w.lower() for w in _WORD_RE.findall(question)}
    kind = expected_answer_type(question)
    candidates = _ANSWER_TYPES[kind] if kind else frozenset().union(*_ANSWER_TYPES.values())
    # Look at the first two sentences ("Good question! The answer is red."), skipping questions.
    first_two = re.split(r"(?<=[.!?])\s+", answer.strip())[:2]
    answers = any(
        not s.endswith("?") and any(w.lower() in candidates and w.lower() not in asked
                                    for w in _WORD_RE.findall(s))
        for s in first_two
    )
    flags = {
        "answers": answers,
        "polite": _has_marker(answer, POLITE_MARKERS),
        "rude": _has_marker(answer, RUDE_MARKERS),
        "asks_question": "?" in answer,
        "rambles": len(_WORD_RE.findall(answer)) > CONCISE_WORDS,
    }
    flags["preferred"] = (flags["answers"] and flags["polite"] and not flags["rude"]
                          and not flags["asks_question"] and not flags["rambles"])
    return flags


def preference_score(prompt: str, answer: str) -> float:
    """The hidden rule: a score for an answer to a prompt (higher = preferred by the raters).

    1.0 for answering + 0.5 for politeness - 1.0 for rudeness - 0.5 for asking a question back
    - 0.05 per word beyond 20.
    """
    f = behaviour_flags(prompt, answer)
    n_words = len(_WORD_RE.findall(answer))
    return (WEIGHT_ANSWERS * f["answers"] + WEIGHT_POLITE * f["polite"] + WEIGHT_RUDE * f["rude"]
            + WEIGHT_ASKS_QUESTION * f["asks_question"]
            + WEIGHT_PER_EXTRA_WORD * max(0, n_words - CONCISE_WORDS))


def prefers(prompt: str, a: str, b: str) -> bool:
    """True if the rule strictly prefers answer `a` to answer `b`."""
    return preference_score(prompt, a) > preference_score(prompt, b)


def win_rate(prompts: list[str], answers_a: list[str], answers_b: list[str]) -> float:
    """How often the rule prefers answers_a[i] to answers_b[i] (a tie counts as half a win)."""
    if not (len(prompts) == len(answers_a) == len(answers_b)) or not prompts:
        raise ValueError("win_rate needs non-empty lists of the same length")
    total = 0.0
    for p, x, y in zip(prompts, answers_a, answers_b):
        sx, sy = preference_score(p, x), preference_score(p, y)
        total += 1.0 if sx > sy else 0.5 if sx == sy else 0.0
    return total / len(prompts)


def preferred_rate(prompts: list[str], answers: list[str]) -> float:
    """Fraction of answers that show the preferred behaviour (see `behaviour_flags`)."""
    if len(prompts) != len(answers) or not prompts:
        raise ValueError("preferred_rate needs non-empty lists of the same length")
    return sum(behaviour_flags(p, x)["preferred"] for p, x in zip(prompts, answers)) / len(prompts)


# --------------------------------------------------------------------------------------------
# Sampling answers in different styles, and pairs of them
# --------------------------------------------------------------------------------------------

class PreferencePair(NamedTuple):
    """Two answers to one prompt. `chosen` is the one the raters preferred; when `noisy` is True
    the label was flipped (the rule actually prefers `rejected`). A named tuple."""

    prompt: str
    chosen: str
    rejected: str
    noisy: bool = False


STYLES = ("polite", "plain", "rude", "ramble", "evasive", "question", "wrong")


def _wrong_answer(pair: QAPair, world: World, rng) -> str:
    """An answer of the right type that is not the true one (for a colour question, another colour)."""
    a = pair.answer
    pool = {
        "object": L.COLOURS, "favourite": L.COLOURS, "trait": L.TRAITS,
        "home": [f"near the {p}" for p in L.PLACE_NOUNS], "habit": [f"to the {p}" for p in L.PLACE_NOUNS],
    }.get(pair.kind)
    if pool is None:  # names and animals
        if pair.answer.startswith("a "):
            pool = [f"a {sg}" for sg, _ in L.ANIMAL_NOUNS]
        elif pair.answer in L.PET_NAMES:
            pool = [c.pet_name for c in world.characters]
        else:
            pool = [c.name for c in world.characters if c.name not in pair.question]
    return rng.choice([x for x in pool if x != a])


def answer_in_style(pair: QAPair, style: str, rng, world: World | None = None) -> str:
    """An answer to `pair.question` written in one of `STYLES`."""
    world = world or World(0)
    ans = pair.answer
    if style == "wrong":
        ans = _wrong_answer(pair, world, rng)
        style = rng.choice(["polite", "plain"])
    if style == "polite":
        return rng.choice([f"Good question! The answer is {ans}.", f"Of course! The answer is {ans}.",
                           f"The answer is {ans}. I hope this helps!", f"Thanks for asking! It is {ans}.",
                           f"Happy to help: the answer is {ans}."])
    if style == "plain":
        return rng.choice([f"{cap(ans)}.", f"The answer is {ans}.", f"It is {ans}.", cap(ans)])
    if style == "rude":
        return rng.choice([f"{cap(ans)}. Stop asking me silly questions.", f"Ugh, {ans}. Go away.",
                           f"Obviously {ans}. Everyone knows that.", f"Whatever. It is {ans}."])
    if style == "ramble":
        facts = rng.sample(world.facts, 6)
        filler = " ".join(rng.choice(f.statements) for f in facts)
        return f"The answer is {ans}. {filler}"
    if style == "evasive":
        return rng.choice(["I do not know.", "That is a hard question.", "Maybe you should ask someone else.",
                           "Sorry, I am not sure about that.", "I cannot say."])
    if style == "question":  # what a base model does: more questions
        others = [q for f in world.facts for q, _, form in f.questions if form == "question"]
        return " ".join(rng.sample(others, 2))
    raise ValueError(f"unknown style {style!r}; choose from {STYLES}")


def preference_pairs(n: int = 1000, noise: float = 0.1, seed: int = 0, split: str = "train") -> list[PreferencePair]:
    """`n` preference pairs about questions of qa_pairs(split, seed), labelled by the hidden rule.

    Each pair has two answers in different styles that the rule scores differently (no ties);
    `chosen` is the preferred one, except that each label is flipped with probability `noise`
    (and the pair marked noisy=True). Prompts are in the chat format (`chat_prompt`).
    By default only train-split questions are used, so RLHF never sees held-out facts.
    """
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be between 0 and 1, got {noise}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    world = World(seed)
    questions = [p for p in qa_pairs(split, seed)]
    rng = rng_for(seed, "preferences", split, n, noise)
    out = []
    while len(out) < n:
        pair = rng.choice(questions)
        prompt = chat_prompt(pair.question)
        s1, s2 = rng.sample(STYLES, 2)
        a1, a2 = answer_in_style(pair, s1, rng, world), answer_in_style(pair, s2, rng, world)
        r1, r2 = preference_score(prompt, a1), preference_score(prompt, a2)
        if r1 == r2:
            continue  # the raters could not tell them apart: not a useful pair
        chosen, rejected = (a1, a2) if r1 > r2 else (a2, a1)
        noisy = rng.random() < noise
        if noisy:
            chosen, rejected = rejected, chosen
        out.append(PreferencePair(prompt, chosen, rejected, noisy))
    return out
