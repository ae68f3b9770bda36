"""Two small tasks for the encoder notebook (05), each trainable on a CPU in about a minute.

* **Fill in the blank**: a sentence with one word replaced by `MASK` ("Mia had a [MASK] kite."),
  and the word ("red"). Some blanks need the grammar ("Mia [MASK] to the park." -> a verb of
  motion), some need the world's facts.
* **Happy or sad ending**: a whole story and a label, 1 if it ends happily and 0 if it ends
  sadly. The early part of a story mentions moods at random, so the model has to find the end.

Examples are put in a split by their content (a hash of the sentence or story), so a validation
example never appears, word for word, in the training examples.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ._util import rng_for, stable_fraction
from .grammar import ADJECTIVES, NAMES, NOUNS_PL, NOUNS_SG, VERB_3SG, VERB_BASE, VERB_PAST, sentences
from .stories import LABEL_NAMES, iter_stories
from .world import World

MASK = "[MASK]"
VAL_FRACTION = 0.2
_SPLITS = ("train", "val", "test")  # "test" is another name for "val"
_MASKABLE = frozenset(NOUNS_SG | NOUNS_PL | ADJECTIVES | set(VERB_BASE) | set(VERB_3SG) | set(VERB_PAST) | NAMES)
_WORD_RE = re.compile(r"[A-Za-z]+")


class MaskedExample(NamedTuple):
    """A sentence with one word replaced by MASK, and the missing word: `text, answer = example`."""

    text: str
    answer: str

    @property
    def sentence(self) -> str:
        """The original sentence, with the answer in place of the mask."""
        return self.text.replace(MASK, self.answer)


class LabelledStory(NamedTuple):
    """A story and whether it ends happily (label 1) or sadly (label 0): `text, label, names = story`."""

    text: str
    label: int
    label_names: tuple[str, str] = LABEL_NAMES


def _in_split(key: str, split: str) -> bool:
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    is_val = stable_fraction(key) < VAL_FRACTION
    return is_val == (split in ("val", "test"))


def masked_word_examples(n: int, seed: int = 0, split: str = "train") -> list[MaskedExample]:
    """`n` fill-in-the-blank examples from stories about World(seed).

    One content word (a noun, adjective, verb or name) of a sentence is replaced by `MASK`.
    A sentence belongs to one split only (chosen by a hash of the sentence).
    """
    _in_split("", split)  # validates split
    world = World(seed)
    rng = rng_for(seed, "masked-words")
    stories = iter_stories(world, rng_for(seed, "masked-stories"))
    out: list[MaskedExample] = []
    while len(out) < n:
        text, _ = next(stories)
        for sentence in sentences(text):
            if len(out) >= n:
                break
            if not _in_split(sentence, split):
                continue
            spans = [m for k, m in enumerate(_WORD_RE.finditer(sentence))
                     if (m.group() in NAMES or (k > 0 and m.group() in _MASKABLE))]
            if not spans:
                continue
            m = rng.choice(spans)
            masked = sentence[:m.start()] + MASK + sentence[m.end():]
            out.append(MaskedExample(masked, m.group()))
    return out


def story_label_examples(n: int, seed: int = 0, split: str = "train") -> list[LabelledStory]:
    """`n` stories about World(seed) labelled 1 (happy ending) or 0 (sad ending), half of each.

    A story belongs to one split only (chosen by a hash of its text).
    """
    _in_split("", split)
    world = World(seed)
    stories = iter_stories(world, rng_for(seed, "label-stories"), happy_rate=0.5)
    want = {1: (n + 1) // 2, 0: n // 2}
    out: list[LabelledStory] = []
    while len(out) < n:
        text, label = next(stories)
        if want[label] > 0 and _in_split(text, split):
            want[label] -= 1
            out.append(LabelledStory(text, label))
    return out
