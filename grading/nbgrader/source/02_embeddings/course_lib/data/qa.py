"""Questions with answers about the world, for supervised fine-tuning (notebook 08).

Every answer follows from a fact the stories state: "Mia had a red kite." in the corpus,
("What colour is Mia's kite?", "red") here. The split into train and test is a split of *facts*:
all the questions about a held-out fact (in every wording) are in the test split, none in train.
So test accuracy measures whether fine-tuning taught the model to answer from what it read during
pretraining, not whether it memorised the SFT answers.
"""

from __future__ import annotations

from typing import NamedTuple

from ._util import rng_for
from .world import World

QA_SPLITS = ("train", "test", "all")
DEFAULT_TEST_FRACTION = 0.2

# The chat template: a prompt ends with "Assistant:", the answer follows after one space and
# ends with a newline.
USER_PREFIX = "User: "
ASSISTANT_PREFIX = "Assistant:"
END_OF_ANSWER = "\n"


class QAPair(NamedTuple):
    """A question (or instruction) and its short answer.

    fact_id names the world fact the answer comes from ("object:Mia"); kind is the fact's kind
    ("object", "pet", "home", "habit", "friend", "favourite", "trait"). A named tuple, so both
    `pair.answer` and `question, answer, fact_id, kind = pair` work.
    """

    question: str
    answer: str
    fact_id: str
    kind: str

    @property
    def form(self) -> str:
        """ "question" ("Where does Mia live?") or "instruction" ("Tell me where Mia lives.")."""
        return "question" if self.question.endswith("?") else "instruction"


def qa_pairs(split: str = "train", seed: int = 0, test_fraction: float = DEFAULT_TEST_FRACTION) -> list[QAPair]:
    """All question-answer pairs about World(seed) whose facts are in `split`.

    split: "train", "test" (the held-out facts, `test_fraction` of each kind) or "all".
    The order is shuffled (deterministically for a given seed).
    """
    if split not in QA_SPLITS:
        raise ValueError(f"split must be one of {QA_SPLITS}, got {split!r}")
    world = World(seed)
    held_out = world.test_fact_ids(test_fraction)
    pairs = []
    for fact in world.facts:
        in_test = fact.fact_id in held_out
        if split == "all" or (split == "test") == in_test:
            for question, answer, _form in fact.questions:
                pairs.append(QAPair(question, answer, fact.fact_id, fact.kind))
    rng_for(seed, "qa-order", split).shuffle(pairs)
    return pairs


def normalise_answer(text: str) -> str:
    """Lower case, without surrounding whitespace or a final period: " Red. " -> "red"."""
    text = text.strip().lower()
    if text.endswith("."):
        text = text[:-1].rstrip()
    return text


def exact_match(prediction: str, answer: str) -> bool:
    """True if the prediction equals the answer, ignoring case, surrounding whitespace and a final period."""
    return normalise_answer(prediction) == normalise_answer(answer)


def qa_accuracy(predictions: list[str], pairs: list[QAPair]) -> float:
    """Fraction of predictions that exactly match (see `exact_match`) the answers of `pairs`."""
    if len(predictions) != len(pairs):
        raise ValueError(f"got {len(predictions)} predictions for {len(pairs)} questions")
    if not pairs:
        raise ValueError("no questions to score")
    return sum(exact_match(p, q.answer) for p, q in zip(predictions, pairs)) / len(pairs)


def chat_prompt(question: str) -> str:
    """The prompt a chat model sees: "User: <question>\\nAssistant:". The answer follows it after a space."""
    return f"{USER_PREFIX}{question.strip()}\n{ASSISTANT_PREFIX}"


def chat_example(question: str, answer: str) -> str:
    """A full training example: chat_prompt(question) + " " + answer + "\\n".

    For SFT, the loss is computed on the answer part only: everything after len(chat_prompt(q)).
    """
    return f"{chat_prompt(question)} {answer.strip()}{END_OF_ANSWER}"


def extract_answer(completion: str) -> str:
    """The answer in a model's completion of a chat prompt: its first line, stripped."""
    return completion.lstrip().split("\n", 1)[0].strip()


def base_model_failure_prompts(seed: int = 0, n: int = 6) -> list[str]:
    """Plain questions about the world, with no chat template.

    A model trained only on the corpus has never seen a question followed by its answer; it has
    seen lines of reading questions after stories. Asked one of these, it typically continues
    with another question, or with more story, instead of answering. (Wrapped in `chat_prompt`,
    the same questions are what the SFT model learns to answer.)
    """
    pairs = [p for p in qa_pairs("all", seed) if p.form == "question"]
    rng = rng_for(seed, "failure-prompts")
    by_kind: dict[str, list[QAPair]] = {}
    for p in pairs:
        by_kind.setdefault(p.kind, []).append(p)
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    prompts = []
    while len(prompts) < n and any(by_kind.values()):
        for kind in kinds:
            if by_kind[kind] and len(prompts) < n:
                prompts.append(by_kind[kind].pop(rng.randrange(len(by_kind[kind]))).question)
    return prompts
