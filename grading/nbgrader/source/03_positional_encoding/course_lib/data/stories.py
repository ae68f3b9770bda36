"""Short stories about the world, and the cached pretraining corpus made of them.

A story has a fixed shape, filled in at random:

    introduction    Once upon a time, there was a brave girl named Mia.
    facts           Mia had a red kite. Mia's best friend was Tom.       (stated word for word)
    mood            Mia felt tired that day.                             (happy or sad, at random)
    setup           One day, Mia and Tom went to the park.
    activity        They played with the kite.
    problem         Suddenly, the wind took her kite.
    resolution      Tom found the kite under a big tree.   /   Mia looked everywhere, but ...
    ending          Mia said thank you to Tom.             /   Mia was very sad.

The ending is happy or sad (the encoder notebook learns to tell which). After some stories comes
a line of reading questions without answers ("Where does Mia live? Who is Mia's best friend?"),
like a school worksheet: this is what makes a model trained only on the corpus answer a question
with another question.

Every sentence the writer produces is valid in the world's grammar; the tests check this.
"""

from __future__ import annotations

import os
import random
import sys
import warnings
from pathlib import Path

from . import lexicon as L
from ._util import a, atomic_write_bytes, cap, rng_for
from .world import Character, Fact, World

GENERATOR_VERSION = 1  # bump whenever the generated text changes, so old caches are not reused

# Target size of the *train* split in characters; the validation split is a tenth of it.
SIZES = {"tiny": 50_000, "small": 500_000, "default": 3_000_000, "large": 20_000_000}
SPLITS = ("train", "val")

MOODS = ["happy", "sad", "tired", "hungry", "excited", "sleepy", "worried", "glad", "lonely", "proud"]
FOODS = ["apple", "cookie", "cake", "pie", "sandwich", "carrot", "egg"]
FINDS = ["stone", "shell", "coin", "feather", "flower", "key", "map", "letter"]
SPOTS = ["tree", "bench", "bush", "rock", "bridge"]
LABEL_NAMES = ("sad", "happy")  # label 0 = sad ending, label 1 = happy ending

# What each verb is done to, so that random sentences stay sensible: "Mia fed the ducks",
# never "Mia fed the clock". Keys are base forms (see lexicon.VERBS); values are nouns.
_ANIMALS = [sg for sg, _ in L.ANIMAL_NOUNS]
VERB_OBJECTS = {
    "find": FINDS, "see": _ANIMALS + ["tree", "house", "bridge", "boat"], "eat": FOODS,
    "paint": ["picture", "house", "flower", "boat", "door"], "draw": ["picture", "flower", "house", "tree"],
    "read": ["book", "letter", "story", "map"], "build": ["house", "boat", "bridge"],
    "carry": ["bag", "box", "bucket", "blanket"], "hold": ["cup", "flower", "key", "bag"],
    "feed": _ANIMALS, "chase": _ANIMALS, "buy": FOODS + ["hat", "ball", "book"],
    "make": ["cake", "pie", "sandwich", "picture", "hat"], "clean": ["table", "window", "door", "house"],
    "open": ["door", "window", "box", "letter"], "kick": ["ball", "stone"], "throw": ["ball", "stone"],
    "catch": ["ball"], "fix": ["bike", "clock", "lamp", "roof", "train", "boat"],
    "sing": ["song"], "play": ["game"], "share": FOODS, "need": ["map", "key", "bag", "umbrella"],
}
GIVE_VERBS = ["give", "show", "bring", "make", "buy"]
SCENE_ADJECTIVES = ["quiet", "big", "beautiful", "dark", "empty", "lovely", "cold", "warm", "old", "small"]
_PLURAL = {sg: pl for sg, pl in L.PERSON_NOUNS + L.ANIMAL_NOUNS + L.OBJECT_NOUNS + L.THING_NOUNS + L.OTHER_NOUNS}
_FORMS = {base: (s3, past) for base, s3, past, _ in L.VERBS}


class StoryWriter:
    """Writes stories about one world, drawing every choice from `rng`."""

    def __init__(self, world: World, rng: random.Random):
        self.world = world
        self.rng = rng

    # ---- small helpers ---------------------------------------------------------------------

    def pick(self, options):
        return self.rng.choice(options)

    def ref(self, c: Character) -> str:
        """Refer to a character by name, or now and then by pronoun."""
        return c.subject_pronoun if self.rng.random() < 0.35 else c.name

    def noun_phrase(self, noun: str, plural_ok: bool = True, definite_ok: bool = True) -> str:
        """A noun phrase around `noun`, e.g. "a shiny stone", "the duck", "three little ducks"."""
        rng = self.rng
        adj = ""
        if noun not in ("song", "game", "story") and rng.random() < 0.4:
            adj = self.pick(["big", "small", "little", "old", "new", "shiny", "tiny", "beautiful", "lovely"]) + " "
        if noun not in FOODS and noun not in _ANIMALS and rng.random() < 0.25:
            adj += self.pick(L.COLOURS) + " "
        if plural_ok and rng.random() < 0.3:
            return f"{self.pick(['two', 'three', 'some', 'the'])} {adj}{_PLURAL.get(noun, noun)}"
        return self.pick([a(adj + noun), f"the {adj}{noun}"] if definite_ok else [a(adj + noun)])

    def verb_object(self, tense: str, number: str = "sg") -> str:
        """A verb and its object: "fed the ducks" (past), "feeds two goats" (present)."""
        base = self.pick(sorted(VERB_OBJECTS))
        s3, past = _FORMS[base]
        verb = past if tense == "past" else (s3 if number == "sg" else base)
        noun = self.pick(VERB_OBJECTS[base])
        return f"{verb} {self.noun_phrase(noun, plural_ok=noun in _PLURAL)}"

    def scene(self, place: str) -> str:
        """A sentence about the place or what is there."""
        pick = self.pick
        return pick([
            f"There was {self.noun_phrase(pick(['tree', 'house', 'bench', 'bridge', 'rock']), False)} near the {place}.",
            f"There were {pick(['two', 'three', 'many', 'some'])} {_PLURAL[pick(_ANIMALS)]} in the {place}.",
            f"The {place} was very {pick(SCENE_ADJECTIVES)}.",
            f"The {place} was {pick(SCENE_ADJECTIVES)} and {pick(SCENE_ADJECTIVES)}.",
        ])

    def extra(self, main: Character, friend: Character | None) -> str:
        """A sentence of everyday life, built from parts: many different sentences are possible."""
        pick, n, sp = self.pick, main.name, main.subject_pronoun
        pair = f"{n} and {friend.name}" if friend else f"{n} and {main.pet_name}"
        options = [
            f"{cap(self.ref(main))} {self.verb_object('past')}.",
            f"{pair} {self.verb_object('past', 'pl')} together.",
            f"Every {pick(['day', 'evening'])}, {n} {self.verb_object('pres', 'sg')}.",
            f"Every {pick(['day', 'evening'])}, {pair} {self.verb_object('pres', 'pl')} together.",
            f"{n} was {pick(['happy', 'glad', 'proud', 'excited'])} because {sp} {self.verb_object('past')}.",
            f"When {n} saw the {pick(_ANIMALS)}, {sp} {pick(['smiled', 'laughed', 'shouted', 'jumped'])}.",
            f"{n} wanted to {self.verb_object('base', 'pl')}.",
            f"{cap(self.ref(main))} did not want to go home.",
            f"{cap(sp)} could see the {pick(L.PLACE_NOUNS)} from the hill.",
        ]
        if friend:
            give = pick(GIVE_VERBS)
            noun = pick(FOODS + FINDS)
            options += [
                f"{n} {_FORMS[give][1]} {friend.name} {self.noun_phrase(noun, False, False)}.",
                f"{friend.name} and {n} {pick(['sang a song', 'played a game', 'read a story'])} "
                f"{pick(['together', 'in the ' + pick(L.PLACE_NOUNS), 'after that'])}.",
                f"{friend.name} {_FORMS[give][1]} {main.object_pronoun} {self.noun_phrase(noun, False, False)}.",
            ]
        return pick(options)

    # ---- the parts of a story --------------------------------------------------------------

    def story(self, main: Character, facts: list[Fact], happy: bool, questions: bool = False) -> str:
        """One story about `main` that states `facts` (word for word) and ends happily or sadly."""
        rng, pick = self.rng, self.pick
        out: list[str] = []

        # Introduction: the trait fact if it is to be stated, else a plain one.
        facts = list(facts)
        trait = [f for f in facts if f.kind == "trait"]
        if trait:
            facts.remove(trait[0])
            out.append(pick(trait[0].statements))
        else:
            out.append(pick([f"There was {a(main.gender)} named {main.name}.",
                             f"Once upon a time, there was {a(main.gender)} named {main.name}."]))
        rng.shuffle(facts)
        out.extend(pick(f.statements) for f in facts)

        # Mood: happy or sad words early in the story, unrelated to the ending.
        if rng.random() < 0.6:
            mood = pick(MOODS)
            out.append(cap(pick([f"{self.ref(main)} felt {mood} that day.",
                                 f"{self.ref(main)} was {mood}.",
                                 f"{self.ref(main)} was very {mood}."])))

        # Companion: usually the best friend, sometimes someone else, sometimes the pet.
        r = rng.random()
        others = [c for c in self.world.characters if c.name != main.name]
        friend = None
        if r < 0.6:
            friend = self.world.character(main.friend)
        elif r < 0.85:
            friend = pick(others)
        n, pet, place = main.name, main.pet_name, pick(L.PLACE_NOUNS)
        noun, poss, sp = main.object_noun, main.possessive, main.subject_pronoun

        # Setup.
        if friend:
            f = friend.name
            out.append(pick([f"One day, {n} and {f} went to the {place}.",
                             f"The next day, {n} walked to the {place} with {f}.",
                             f"One day, {n} met {f} at the {place}.",
                             f"After that, {n} and {f} ran to the {place}."]))
        else:
            out.append(pick([f"One day, {n} went to the {place} with {pet}.",
                             f"One day, {n} took {pet} to the {place}."]))
        out.append(cap(pick([f"{self.ref(main)} took {poss} {noun} with {main.object_pronoun}.",
                             f"{self.ref(main)} took {poss} {main.object_phrase}.",
                             f"{self.ref(main)} brought {poss} {noun}."])))

        # Activity: one or two pleasant things.
        activities = [f"They played with the {noun}.", "They sang a song together.",
                      f"{cap(self.ref(main))} found {a(pick(FINDS))} under {a(pick(SPOTS))}.",
                      f"They ate {a(pick(FOODS))} on a bench.", "It was a beautiful day.",
                      "The sun was warm."]
        if friend:
            activities += [f"{n} showed {friend.name} {poss} {main.object_phrase}.",
                           f"{friend.name} liked the {noun} very much."]
        else:
            activities += [f"{pet} chased {a(pick(L.ANIMAL_NOUNS)[0])}.", f"{pet} was very happy."]
        if rng.random() < 0.5:
            out.append(self.scene(place))
        for s in rng.sample(activities, rng.choice([0, 1, 1, 2])):
            out.append(s)
        for _ in range(rng.choice([1, 1, 2, 3])):
            out.append(self.extra(main, friend))

        # Problem, then a resolution and an ending that are happy or sad.
        kind = pick(["object", "object", "rain"] + ([] if friend else ["pet"]))
        helper = friend.name if friend else pet
        if kind == "object":
            out.append(pick([f"Suddenly, the wind took {poss} {noun}.",
                             f"Then, the {noun} fell into the water.",
                             f"Suddenly, the {noun} got stuck in a tall tree.",
                             f"Then, {n} lost {poss} {noun} in the {place}.",
                             f"A big dog ran away with the {noun}."]))
            if happy:
                out.append(pick([f"{helper} found the {noun} under a big tree.",
                                 f"{helper} helped {n}, and they got the {noun} back.",
                                 f"{helper} brought the {noun} back to {n}.",
                                 f"At last, {n} found the {noun} behind a bush."]))
            else:
                out.append(pick([f"{n} looked everywhere, but {sp} could not find it.",
                                 f"{helper} tried to help, but the {noun} was broken.",
                                 f"They found the {noun}, but it was broken."]))
        elif kind == "rain":
            out.append(pick(["Suddenly, it started to rain.", "Then, it rained."]))
            if happy:
                out.append(pick(["Soon, the rain stopped.", "Soon, the sun came out again.",
                                 "They waited under a big tree, and the rain stopped."]))
            else:
                out.append(pick(["It rained all day, and they could not play outside.",
                                 "They got wet and cold."]))
        else:  # the pet runs away
            out.append(pick([f"Suddenly, {pet} ran away.", f"Then, {pet} got lost in the {place}."]))
            if happy:
                out.append(pick([f"Soon, {pet} came back home.",
                                 f"At last, {n} found {pet} behind a big tree."]))
            else:
                out.append(pick([f"{n} looked for {pet} everywhere, but {sp} could not find it.",
                                 f"{pet} did not come back that day."]))

        if happy:
            endings = [f"{n} was very happy.", "At last, everyone was happy.",
                       f"{cap(self.ref(main))} felt happy and proud."]
            if friend:
                endings += [f"{n} said thank you to {friend.name}.", f"{n} hugged {friend.name}.",
                            "They laughed and played together all day.",
                            f"In the end, {n} and {friend.name} went home together.", f"{n} smiled."]
            else:
                endings += [f"{n} smiled and hugged {pet}."]
        else:
            endings = [f"{n} was very sad.", f"{cap(self.ref(main))} cried.",
                       f"That night, {n} felt lonely.", f"In the end, {n} went home alone."]
            if friend:
                endings += [f"{n} and {friend.name} were sad and tired."]
        out.extend(rng.sample(endings, rng.choice([1, 2])))

        text = " ".join(out)
        if questions:
            qs = [q for f in self.world.facts_about(main.name) for q, _, form in f.questions
                  if form == "question" and main.name in q]
            text += "\n" + " ".join(rng.sample(qs, min(len(qs), rng.choice([2, 3]))))
        return text


def iter_stories(world: World, rng: random.Random, questions_rate: float = 0.0, happy_rate: float = 0.6,
                 facts_per_story=(2, 3, 3, 4)):
    """Yield (story_text, label) forever, label 1 for a happy ending and 0 for a sad one.

    The main characters come in rounds (every character once per round, in a shuffled order),
    and each character's facts are stated in rotation, so that even a small corpus states every
    fact of the world at least once.
    """
    writer = StoryWriter(world, rng)
    pending = {}
    for c in world.characters:
        fl = world.facts_about(c.name)
        rng.shuffle(fl)
        pending[c.name] = fl
    rotation_pos = {c.name: 0 for c in world.characters}
    while True:
        order = list(world.characters)
        rng.shuffle(order)
        for main in order:
            fl = pending[main.name]
            k = rng.choice(facts_per_story)
            start = rotation_pos[main.name]
            chosen = [fl[(start + i) % len(fl)] for i in range(min(k, len(fl)))]
            rotation_pos[main.name] = (start + k) % len(fl)
            happy = rng.random() < happy_rate
            text = writer.story(main, chosen, happy, questions=rng.random() < questions_rate)
            yield text, int(happy)


# --------------------------------------------------------------------------------------------
# The corpus, generated once and cached on disk
# --------------------------------------------------------------------------------------------

def _target_chars(split: str, size) -> int:
    if isinstance(size, int) and not isinstance(size, bool):
        if size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        train_chars = size
    elif size in SIZES:
        train_chars = SIZES[size]
    else:
        raise ValueError(f"size must be one of {sorted(SIZES)} or a number of characters, got {size!r}")
    return train_chars if split == "train" else max(5_000, train_chars // 10)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def generate_corpus(split: str = "train", size="default", seed: int = 0, progress: bool | None = None) -> str:
    """Generate the corpus text without touching the cache (see `corpus`).

    Stories are separated by a blank line. `progress` shows a tqdm bar (default: only for
    corpora of 5 MB and more).
    """
    _check_split(split)
    target = _target_chars(split, size)
    world = World(seed)
    rng = rng_for(seed, "corpus", split)
    bar = None
    if progress is None:
        progress = target >= 5_000_000
    if progress:
        try:
            from tqdm.auto import tqdm
            bar = tqdm(total=target, unit="char", unit_scale=True, desc=f"generating {split} corpus",
                       file=sys.stderr)
        except ImportError:  # tqdm is optional here
            bar = None
    parts, total = [], 0
    for text, _ in iter_stories(world, rng, questions_rate=0.15):
        parts.append(text)
        total += len(text) + 2
        if bar is not None:
            bar.update(len(text) + 2)
        if total >= target:
            break
    if bar is not None:
        bar.close()
    return "\n\n".join(parts) + "\n"


def cache_dir() -> Path:
    """Where generated data is cached: $COURSE_DATA_DIR if set, else ~/.cache/course_lib."""
    env = os.environ.get("COURSE_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "course_lib"


def corpus_filename(split: str, size, seed: int) -> str:
    """The cache file name; it includes the generator version so a new version never reads old text."""
    return f"course-world-v{GENERATOR_VERSION}-seed{seed}-{size}-{split}.txt"


def corpus_path(split: str = "train", size="default", seed: int = 0) -> Path:
    """Path of the cached corpus file, generating it first if needed."""
    _check_split(split)
    _target_chars(split, size)  # validates size
    path = cache_dir() / corpus_filename(split, size, seed)
    if not path.exists():
        atomic_write_bytes(path, generate_corpus(split, size, seed).encode("utf-8"))
    return path


def corpus(split: str = "train", size="default", seed: int = 0) -> str:
    """The story corpus: short stories about World(seed), separated by blank lines.

    split: "train" or "val" (different stories about the same world).
    size: "tiny" (~50 KB, for tests), "small" (~500 KB), "default" (~3 MB), "large" (~20 MB), or
          a number of characters; the validation split is a tenth of the train size.

    Generation is deterministic for a given seed and takes seconds; the text is cached in
    `cache_dir()` (written atomically), so later calls only read the file. If the cache cannot
    be written, the text is still returned (with a warning).
    """
    _check_split(split)
    _target_chars(split, size)
    path = cache_dir() / corpus_filename(split, size, seed)
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    text = generate_corpus(split, size, seed)
    try:
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as err:
        warnings.warn(f"could not cache the corpus in {path.parent} ({err}); set COURSE_DATA_DIR "
                      "to a writable folder to avoid generating it again", stacklevel=2)
    return text
