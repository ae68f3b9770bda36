"""The facts of the course world: who the characters are, what they own, where they live...

A `World` is fully determined by its seed. The stories (stories.py) state its facts in plain
sentences ("Mia had a red kite."), and the question-answer pairs (qa.py) ask about the same facts
("What colour is Mia's kite?" -> "red"). So a model pretrained on the stories has *seen* every
fact, and fine-tuning only has to teach it to answer.

Every fact has an id ("object:Mia", "friend:Mia+Tom", ...). All questions about one fact share
its id, and the train/test split of questions is a split of fact ids: a held-out fact is never
asked about in the training questions, in any wording.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import lexicon as L
from ._util import a, rng_for

FACT_KINDS = ("trait", "object", "pet", "home", "habit", "friend", "favourite")

# Places a character may live near (all read naturally after "lived near the").
HOME_PLACES = [
    "river", "lake", "forest", "beach", "hill", "farm", "park", "school", "market", "castle",
    "pond", "bakery", "meadow", "station", "library", "garden",
]


@dataclass(frozen=True)
class Character:
    """One person in the world, with everything the world knows about them."""

    name: str
    gender: str            # "girl" or "boy"
    trait: str             # "brave", "shy", ...
    object_colour: str     # Mia has a red kite: object_colour="red", object_noun="kite"
    object_noun: str
    pet_kind: str          # Mia has a dog named Rex: pet_kind="dog", pet_name="Rex"
    pet_name: str
    home: str              # Mia lives near the lake
    habit_place: str       # every morning, Mia walks to the market
    friend: str            # Mia's best friend (a name; friendship is mutual)
    favourite_colour: str

    @property
    def subject_pronoun(self) -> str:
        return "she" if self.gender == "girl" else "he"

    @property
    def object_pronoun(self) -> str:
        return "her" if self.gender == "girl" else "him"

    @property
    def possessive(self) -> str:
        return "her" if self.gender == "girl" else "his"

    @property
    def object_phrase(self) -> str:
        """ "red kite" """
        return f"{self.object_colour} {self.object_noun}"


@dataclass(frozen=True)
class Fact:
    """One fact of the world, the sentences that state it, and the questions that ask about it.

    `statements` are sentences (valid in the world's grammar) that the stories use to state the
    fact, word for word. `questions` are (question, answer, form) triples, form being "question"
    (valid in the grammar) or "instruction" ("Tell me where Mia lives.").
    """

    fact_id: str
    kind: str
    subject: str
    statements: tuple[str, ...]
    questions: tuple[tuple[str, str, str], ...]
    value: str = ""  # the main value of the fact ("red kite", "Rex", "lake", ...), for readers


@dataclass
class World:
    """The characters, objects, places and facts of one seeded story world.

    >>> w = World(seed=0)
    >>> mia = w.characters[0]
    >>> w.fact(f"object:{mia.name}").statements[0]      # e.g. 'Mia had a red kite.'
    """

    seed: int = 0
    n_characters: int = 24
    characters: list[Character] = field(init=False, repr=False)
    facts: list[Fact] = field(init=False, repr=False)

    def __post_init__(self):
        if not 2 <= self.n_characters <= len(L.GIRL_NAMES) + len(L.BOY_NAMES):
            raise ValueError(f"n_characters must be between 2 and 32, got {self.n_characters}")
        if self.n_characters % 2:
            raise ValueError("n_characters must be even (characters come in pairs of best friends)")
        rng = rng_for(self.seed, "world")
        n_girls = self.n_characters // 2
        names = [(n, "girl") for n in rng.sample(L.GIRL_NAMES, n_girls)]
        names += [(n, "boy") for n in rng.sample(L.BOY_NAMES, self.n_characters - n_girls)]
        rng.shuffle(names)

        # Each character owns a different (colour, object), so "Who has a red kite?" has one answer.
        combos = [(c, o) for c in L.COLOURS for o, _ in L.OBJECT_NOUNS]
        owned = rng.sample(combos, self.n_characters)
        pet_names = rng.sample(L.PET_NAMES, self.n_characters)
        # Best friends come in pairs: 0-1, 2-3, ... of a shuffled order.
        order = list(range(self.n_characters))
        rng.shuffle(order)
        friend_of = {}
        for k in range(0, len(order), 2):
            i, j = order[k], order[k + 1]
            friend_of[i], friend_of[j] = j, i

        chars = []
        for i, (name, gender) in enumerate(names):
            colour, noun = owned[i]
            home = rng.choice(HOME_PLACES)
            habit = rng.choice([p for p in L.PLACE_NOUNS if p != home])
            favourite = rng.choice([c for c in L.COLOURS if c != colour])
            chars.append(Character(
                name=name, gender=gender, trait=rng.choice(L.TRAITS),
                object_colour=colour, object_noun=noun,
                pet_kind=rng.choice(L.ANIMAL_NOUNS)[0], pet_name=pet_names[i],
                home=home, habit_place=habit, friend=names[friend_of[i]][0],
                favourite_colour=favourite,
            ))
        self.characters = chars
        self._by_name = {c.name: c for c in chars}
        self.facts = self._make_facts()
        self._facts_by_id = {f.fact_id: f for f in self.facts}

    # ---- looking things up -----------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """The characters' names."""
        return [c.name for c in self.characters]

    @property
    def places(self) -> list[str]:
        """Every place of the world ("park", "market", ...)."""
        return list(L.PLACE_NOUNS)

    @property
    def colours(self) -> list[str]:
        return list(L.COLOURS)

    @property
    def objects(self) -> dict[str, str]:
        """Who has what: {"Mia": "red kite", ...}."""
        return {c.name: c.object_phrase for c in self.characters}

    def character(self, name: str) -> Character:
        """The character called `name` (KeyError if there is none)."""
        return self._by_name[name]

    def fact(self, fact_id: str) -> Fact:
        """The fact with this id (KeyError if there is none)."""
        return self._facts_by_id[fact_id]

    def facts_about(self, name: str) -> list[Fact]:
        """Every fact whose statements mention this character (their friendship included)."""
        return [f for f in self.facts if f.subject == name
                or (f.kind == "friend" and name in f.fact_id.split(":")[1].split("+"))]

    def test_fact_ids(self, test_fraction: float = 0.2) -> frozenset[str]:
        """The fact ids held out for testing: `test_fraction` of the facts of each kind (at least one).

        The choice depends only on the seed, so qa_pairs("train") and qa_pairs("test") always
        agree on it.
        """
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
        rng = rng_for(self.seed, "fact-split", test_fraction)
        held_out = set()
        for kind in FACT_KINDS:
            ids = sorted(f.fact_id for f in self.facts if f.kind == kind)
            rng.shuffle(ids)
            k = max(1, round(test_fraction * len(ids)))
            held_out.update(ids[:k])
        return frozenset(held_out)

    def describe(self) -> str:
        """A readable table of the characters and their facts."""
        lines = [f"World(seed={self.seed}): {len(self.characters)} characters, {len(self.facts)} facts"]
        for c in self.characters:
            lines.append(
                f"  {c.name:<6} {c.trait} {c.gender}; has {a(c.object_phrase)}; {c.pet_kind} {c.pet_name}; "
                f"lives near the {c.home}; walks to the {c.habit_place} every morning; "
                f"best friend {c.friend}; favourite colour {c.favourite_colour}"
            )
        return "\n".join(lines)

    # ---- the facts, their statements and questions ----------------------------------------

    def _make_facts(self) -> list[Fact]:
        facts = []
        done_friendships = set()
        for c in self.characters:
            n, g = c.name, c.gender
            facts.append(Fact(
                f"trait:{n}", "trait", n,
                statements=(f"{n} was {a(c.trait)} {g}.", f"{n} is {a(c.trait)} {g}.",
                            f"Once upon a time, there was {a(c.trait)} {g} named {n}."),
                questions=((f"What kind of {g} is {n}?", c.trait, "question"),),
                value=c.trait,
            ))
            obj = c.object_phrase
            facts.append(Fact(
                f"object:{n}", "object", n,
                statements=(f"{n} had {a(obj)}.", f"{n} has {a(obj)}.",
                            f"{n}'s {c.object_noun} was {c.object_colour}."),
                questions=(
                    (f"What colour is {n}'s {c.object_noun}?", c.object_colour, "question"),
                    (f"Who has {a(obj)}?", n, "question"),
                    (f"Tell me the colour of {n}'s {c.object_noun}.", c.object_colour, "instruction"),
                ),
                value=obj,
            ))
            facts.append(Fact(
                f"pet:{n}", "pet", n,
                statements=(f"{n} had {a(c.pet_kind)} named {c.pet_name}.",
                            f"{n} has {a(c.pet_kind)} named {c.pet_name}.",
                            f"{c.pet_name} was {n}'s {c.pet_kind}."),
                questions=(
                    (f"What is the name of {n}'s {c.pet_kind}?", c.pet_name, "question"),
                    (f"Whose {c.pet_kind} is {c.pet_name}?", n, "question"),
                    (f"What kind of animal is {c.pet_name}?", a(c.pet_kind), "question"),
                ),
                value=f"{c.pet_kind} {c.pet_name}",
            ))
            facts.append(Fact(
                f"home:{n}", "home", n,
                statements=(f"{n} lived near the {c.home}.", f"{n} lives near the {c.home}."),
                questions=(
                    (f"Where does {n} live?", f"near the {c.home}", "question"),
                    (f"Tell me where {n} lives.", f"near the {c.home}", "instruction"),
                ),
                value=c.home,
            ))
            facts.append(Fact(
                f"habit:{n}", "habit", n,
                statements=(f"Every morning, {n} walked to the {c.habit_place}.",
                            f"{n} walked to the {c.habit_place} every morning.",
                            f"Every morning, {n} walks to the {c.habit_place}."),
                questions=((f"Where does {n} walk every morning?", f"to the {c.habit_place}", "question"),),
                value=c.habit_place,
            ))
            facts.append(Fact(
                f"favourite:{n}", "favourite", n,
                statements=(f"{n}'s favourite colour was {c.favourite_colour}.",
                            f"{n}'s favourite colour is {c.favourite_colour}."),
                questions=((f"What is {n}'s favourite colour?", c.favourite_colour, "question"),),
                value=c.favourite_colour,
            ))
            pair = tuple(sorted((n, c.friend)))
            if pair not in done_friendships:
                done_friendships.add(pair)
                x, y = pair
                facts.append(Fact(
                    f"friend:{x}+{y}", "friend", x,
                    statements=(f"{x}'s best friend was {y}.", f"{y}'s best friend was {x}.",
                                f"{x} and {y} were best friends.", f"{y} and {x} were best friends."),
                    questions=((f"Who is {x}'s best friend?", y, "question"),
                               (f"Who is {y}'s best friend?", x, "question")),
                    value=f"{x} and {y}",
                ))
        return facts
