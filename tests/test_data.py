"""Tests of the course world data set, `course_lib.data`.

Everything runs offline on the "tiny" corpus, with a temporary cache folder (COURSE_DATA_DIR),
so the user's cache is never touched and nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest

from course_lib import data
from course_lib.data import lexicon as L


@pytest.fixture(autouse=True)
def _temporary_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)


@pytest.fixture(scope="module")
def tiny_train() -> str:
    return data.generate_corpus("train", "tiny", seed=0)


@pytest.fixture(scope="module")
def tiny_val() -> str:
    return data.generate_corpus("val", "tiny", seed=0)


@pytest.fixture(scope="module")
def world() -> data.World:
    return data.World(seed=0)


# ------------------------------------------------------------------------------------------
# Determinism, sizes and the cache
# ------------------------------------------------------------------------------------------

def test_generation_is_deterministic(tiny_train):
    assert data.generate_corpus("train", "tiny", seed=0) == tiny_train
    assert data.World(0).describe() == data.World(0).describe()
    assert data.qa_pairs("train", seed=0) == data.qa_pairs("train", seed=0)
    assert data.preference_pairs(50, seed=0) == data.preference_pairs(50, seed=0)
    assert data.masked_word_examples(30, seed=0) == data.masked_word_examples(30, seed=0)
    assert data.story_label_examples(10, seed=0) == data.story_label_examples(10, seed=0)


def test_different_seeds_differ(tiny_train):
    assert data.generate_corpus("train", "tiny", seed=1) != tiny_train
    assert data.World(0).describe() != data.World(1).describe()
    assert {p.question for p in data.qa_pairs("all", 0)} != {p.question for p in data.qa_pairs("all", 1)}


def test_train_and_val_differ_and_have_the_right_sizes(tiny_train, tiny_val):
    assert tiny_train != tiny_val
    assert 45_000 <= len(tiny_train) <= 60_000          # "tiny" ~ 50 KB
    assert 4_000 <= len(tiny_val) <= 8_000              # a tenth, at least 5,000 characters
    assert "\n\n" in tiny_train                          # stories are separated by blank lines


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="split"):
        data.corpus(split="test", size="tiny")
    with pytest.raises(ValueError, match="size"):
        data.corpus(size="huge")
    with pytest.raises(ValueError, match="split"):
        data.qa_pairs(split="val")
    with pytest.raises(ValueError, match="noise"):
        data.preference_pairs(10, noise=1.5)


def test_corpus_is_cached_and_a_cache_hit_returns_identical_text(tmp_path, monkeypatch, tiny_train):
    cache = tmp_path / "cache"
    first = data.corpus("train", "tiny", seed=0)
    assert first == tiny_train
    files = [p.name for p in cache.iterdir()]
    assert files == [f"course-world-v{data.GENERATOR_VERSION}-seed0-tiny-train.txt"]  # no temp files left

    def must_not_generate(*args, **kwargs):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr("course_lib.data.stories.generate_corpus", must_not_generate)
    assert data.corpus("train", "tiny", seed=0) == first


def test_failed_cache_write_leaves_no_partial_file(tmp_path, monkeypatch, tiny_train):
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("course_lib.data.stories.os.replace", broken_replace)
    with pytest.warns(UserWarning, match="COURSE_DATA_DIR"):
        text = data.corpus("train", "tiny", seed=0)
    assert text == tiny_train  # still returned
    assert list((tmp_path / "cache").iterdir()) == []  # neither the file nor its temporary copy


# ------------------------------------------------------------------------------------------
# The grammar
# ------------------------------------------------------------------------------------------

def test_every_generated_sentence_is_valid(tiny_train, tiny_val, world):
    generated = data.sentences(tiny_train) + data.sentences(tiny_val)
    assert len(generated) > 1000
    invalid = [(s, data.why_invalid(s)) for s in generated if not data.check_sentence(s)]
    assert invalid == []
    for fact in world.facts:
        for s in fact.statements:
            assert data.check_sentence(s), (s, data.why_invalid(s))
        for q, _, form in fact.questions:
            assert form == "instruction" or data.check_sentence(q), (q, data.why_invalid(q))
    for ex in data.story_label_examples(20, seed=0):
        assert data.grammar_report(ex.text).valid_fraction == 1.0


VALID = [
    "Mia has a red kite.", "Mia and Tom walk to the park.", "Mia has an orange kite.",
    "Once upon a time, there was a brave girl named Mia.", "The two girls were very happy.",
    "Mia looked everywhere, but she could not find it.", "When Mia saw the kite, she smiled.",
    "Where does Mia walk every morning?", "What colour is Mia's kite?", "Does Mia have a dog?",
]
INVALID = {
    "Mia have a red kite.": "agreement",
    "Mia and Tom walks to the park.": "agreement",
    "The two girls was happy.": "agreement",
    "Tom did not found the ball.": "agreement",
    "Mia has a orange kite.": "a/an",
    "Mia has an red kite.": "a/an",
    "Her has a kite.": "pronoun case",
    "Mia has a red big kite.": "adjective order",
    "Mia has red kite.": "missing article",
    "Has Mia a red kite.": "word order",
    "Mia gave.": "missing object",
    "Mia has a red kite?": "not a question",
    "What colour Mia's kite is?": "question word order",
    "Mia has a red kiet.": "unknown word",
    "Mia has a red kite": "no end mark",
    "mia has a red kite.": "capitalisation",
    "Mia has a Red kite.": "capitalisation",
    "Mia has a red kite .": "spacing",
    "Mia has a red kite, 3 times.": "character",
}


@pytest.mark.parametrize("sentence", VALID)
def test_hand_written_valid_sentences(sentence):
    assert data.check_sentence(sentence), data.why_invalid(sentence)


@pytest.mark.parametrize("sentence,why", INVALID.items())
def test_hand_written_invalid_sentences(sentence, why):
    assert not data.check_sentence(sentence), why
    assert data.why_invalid(sentence)


def _sample(sentences, k, seed=0):
    return random.Random(seed).sample(sentences, min(k, len(sentences)))


def test_shuffled_words_fail(tiny_train):
    """Shuffle the words of corpus sentences (keeping the capital and final mark where they belong)."""
    rng = random.Random(0)
    names = set(L.GIRL_NAMES + L.BOY_NAMES + L.PET_NAMES)
    tried = failed = 0
    for s in _sample(data.sentences(tiny_train), 1500):
        words = s[:-1].split()
        if "," in s or len(words) < 4:
            continue
        words = [w if w.split("'")[0] in names else w.lower() for w in words]
        shuffled = words[:]
        rng.shuffle(shuffled)
        if shuffled == words:
            continue
        candidate = shuffled[0][:1].upper() + " ".join(shuffled)[1:] + s[-1]
        tried += 1
        failed += not data.check_sentence(candidate)
    assert tried > 300
    assert failed / tried >= 0.95  # a few shuffles are valid: "Tom and Mia smiled."


_AGREEMENT_SWAPS = {"is": "are", "are": "is", "was": "were", "were": "was", "has": "have", "have": "has",
                    "does": "do", "do": "does"}
_NOT_ONLY_VERBS = data.grammar.NOUNS_SG | data.grammar.NOUNS_PL | data.grammar.ADJECTIVES  # "rain", "rains"
for _base, _s3, _past, _ in L.VERBS:
    # "read" is both a base form and a past form, "rain" also a noun: swapping them proves nothing.
    if _past != _base and not {_base, _s3} & _NOT_ONLY_VERBS:
        _AGREEMENT_SWAPS[_s3] = _base
        _AGREEMENT_SWAPS.setdefault(_base, _s3)


def test_wrong_agreement_fails(tiny_train):
    """Swap one agreeing word (was/were, has/have, walks/walk, ...): the sentence must become invalid."""
    tried = 0
    for s in data.sentences(tiny_train)[:3000]:
        words = s.split(" ")
        for k, w in enumerate(words):
            bare = w.rstrip(".,!?")
            if k > 0 and bare in _AGREEMENT_SWAPS:
                words[k] = w.replace(bare, _AGREEMENT_SWAPS[bare])
                corrupted = " ".join(words)
                assert not data.check_sentence(corrupted), (s, corrupted)
                tried += 1
                break
    assert tried > 500


def test_wrong_article_fails(tiny_train):
    tried = 0
    for s in data.sentences(tiny_train)[:3000]:
        m = re.search(r"\b(a|an) ", s[1:])
        if m:
            k = m.start(1) + 1
            swapped = s[:k] + ("an" if m.group(1) == "a" else "a") + s[k + len(m.group(1)):]
            assert not data.check_sentence(swapped), (s, swapped)
            tried += 1
    assert tried > 200


def test_unknown_words_fail(tiny_train):
    rng = random.Random(1)
    for s in _sample(data.sentences(tiny_train), 300):
        words = s.split(" ")
        k = rng.randrange(1, len(words))
        words[k] = "zq" + words[k].lower()
        corrupted = " ".join(words)
        assert not data.check_sentence(corrupted)
        assert "unknown word" in data.why_invalid(corrupted)


def test_sentences_and_grammar_report():
    text = "Mia smiled.  Tom   cried!\nWhere does Mia live? kite the Mia. And then"
    assert data.sentences(text) == ["Mia smiled.", "Tom cried!", "Where does Mia live?", "kite the Mia."]
    report = data.grammar_report(text)
    assert (report.n_sentences, report.n_valid) == (4, 3)
    assert report.valid_fraction == pytest.approx(0.75)
    assert report.invalid_examples == ["kite the Mia."]
    assert data.grammar_report("no sentence here").valid_fraction == 0.0


def test_vocabulary_is_small_and_covers_the_corpus(tiny_train):
    vocab = data.vocabulary()
    assert 200 <= len(vocab) <= 1000
    assert vocab == sorted(set(vocab))
    used = {w for w in data.word_tokens(tiny_train) if w not in data.PUNCTUATION}
    lowered = {w if w in vocab else w.lower() for w in used}  # first words are capitalised
    assert lowered <= set(vocab)
    assert not data.check_sentence("Mia has a red xylophone.")


# ------------------------------------------------------------------------------------------
# Questions and answers
# ------------------------------------------------------------------------------------------

def _expected_answer(world: data.World, question: str) -> str:
    """Work out the answer from the characters' attributes, independently of the Fact objects."""
    c = world.character
    patterns = [
        (r"(?:What colour is|Tell me the colour of) (\w+)'s (\w+)[?.]",
         lambda n, o: c(n).object_colour if c(n).object_noun == o else None),
        (r"Who has an? (\w+) (\w+)\?",
         lambda col, o: "|".join(x.name for x in world.characters if (x.object_colour, x.object_noun) == (col, o))),
        (r"What is the name of (\w+)'s (\w+)\?", lambda n, k: c(n).pet_name if c(n).pet_kind == k else None),
        (r"Whose (\w+) is (\w+)\?",
         lambda k, p: "|".join(x.name for x in world.characters if (x.pet_kind, x.pet_name) == (k, p))),
        (r"What kind of animal is (\w+)\?",
         lambda p: "|".join(("an " if x.pet_kind[0] in "aeiou" else "a ") + x.pet_kind
                            for x in world.characters if x.pet_name == p)),
        (r"(?:Where does (\w+) live\?|Tell me where (\w+) lives\.)",
         lambda n1, n2: "near the " + c(n1 or n2).home),
        (r"Where does (\w+) walk every morning\?", lambda n: "to the " + c(n).habit_place),
        (r"Who is (\w+)'s best friend\?", lambda n: c(n).friend),
        (r"What is (\w+)'s favourite colour\?", lambda n: c(n).favourite_colour),
        (r"What kind of (girl|boy) is (\w+)\?", lambda g, n: c(n).trait if c(n).gender == g else None),
    ]
    for pattern, rule in patterns:
        m = re.fullmatch(pattern, question)
        if m:
            return rule(*m.groups())
    raise AssertionError(f"unexpected question {question!r}")


def test_each_answer_follows_from_the_world(world):
    pairs = data.qa_pairs("all", seed=0)
    assert len(pairs) > 100
    assert {p.kind for p in pairs} == {"trait", "object", "pet", "home", "habit", "friend", "favourite"}
    for p in pairs:
        assert _expected_answer(world, p.question) == p.answer, p
    assert len({p.question for p in pairs}) == len(pairs)  # no question asked twice


def test_each_answer_is_stated_in_the_corpus(tiny_train, world):
    """A model pretrained on the corpus has read every answer: some story states it word for word."""
    corpus_sentences = set(data.sentences(tiny_train))
    for p in data.qa_pairs("all", seed=0):
        stated = [s for s in world.fact(p.fact_id).statements if s in corpus_sentences]
        assert stated, f"fact {p.fact_id} is never stated in the corpus"
        answer = re.sub(r"^an? ", "", p.answer.lower())  # "a pony": "Rosie was Kate's pony."
        assert any(answer in s.lower() for s in stated), p


def test_the_corpus_never_contradicts_the_facts(tiny_train, world):
    for s in data.sentences(tiny_train):
        for pattern, attr in [(r"(\w+) (?:had|has) an? (\w+ \w+)\.", "object_phrase"),
                              (r"(\w+) (?:lived|lives) near the (\w+)\.", "home"),
                              (r"(?:Every morning, )?(\w+) (?:walked|walks) to the (\w+)(?: every morning)?\.",
                               "habit_place"),
                              (r"(\w+)'s best friend (?:was|is) (\w+)\.", "friend"),
                              (r"(\w+)'s favourite colour (?:was|is) (\w+)\.", "favourite_colour")]:
            m = re.fullmatch(pattern, s)
            if m and m.group(1) in {x.name for x in world.characters}:
                if attr == "object_phrase" and m.group(2).split()[1] not in {o for o, _ in L.OBJECT_NOUNS}:
                    continue  # "Mia had a dog named Rex." is about the pet
                if attr == "habit_place" and "every morning" not in s.lower():
                    continue  # an ordinary walk, not the daily one
                assert getattr(world.character(m.group(1)), attr) == m.group(2), s


_QUESTION_WORDS = {"what", "who", "whose", "where", "does", "is", "has", "a", "an", "the", "colour", "kind", "of",
                   "name", "live", "lives", "walk", "every", "morning", "tell", "me", "near", "to", "best",
                   "friend", "favourite", "animal", "girl", "boy", "s"}


def test_splits_do_not_leak_held_out_facts(tiny_train):
    train, test, every = data.qa_pairs("train", 0), data.qa_pairs("test", 0), data.qa_pairs("all", 0)
    train_facts, test_facts = {p.fact_id for p in train}, {p.fact_id for p in test}
    assert train_facts.isdisjoint(test_facts)
    assert train_facts | test_facts == {p.fact_id for p in every}
    assert sorted(train + test, key=lambda p: p.question) == sorted(every, key=lambda p: p.question)
    assert 0.15 <= len(test_facts) / len(train_facts | test_facts) <= 0.25
    assert {p.kind for p in test} == {p.kind for p in every}  # every kind of question is tested
    # No train pair gives a held-out answer away: "Who is Tom's best friend?" -> "Mia" (train) would
    # answer "Who is Mia's best friend?" (test), "Who has a red kite?" -> "Mia" would answer
    # "What colour is Mia's kite?". So no train pair contains all the key words of a test pair.
    def words(text):
        return set(re.findall(r"[a-z]+", text.lower()))

    for t in test:
        key = words(f"{t.question} {t.answer}") - _QUESTION_WORDS
        assert len(key) >= 2, t
        for q in train:
            assert not key <= words(f"{q.question} {q.answer}"), (t, q)
    # Held-out facts are still in the pretraining corpus.
    assert all(any(s in tiny_train for s in data.World(0).fact(f).statements) for f in test_facts)
    # The preference data uses train questions only.
    held_out_questions = {p.question for p in test}
    for pair in data.preference_pairs(300, seed=0):
        assert data.preferences.question_of(pair.prompt) not in held_out_questions


def test_exact_match_and_accuracy():
    assert data.exact_match("  Red. ", "red")
    assert data.exact_match("Near the lake", "near the lake")
    assert not data.exact_match("blue", "red")
    assert not data.exact_match("red kite", "red")
    assert not data.exact_match("", "red")
    pairs = data.qa_pairs("test", 0)[:4]
    preds = [pairs[0].answer, "wrong", pairs[2].answer.upper() + ".", ""]
    assert data.qa_accuracy(preds, pairs) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        data.qa_accuracy(preds[:3], pairs)


def test_records_unpack_as_documented():
    question, answer, fact_id, kind = data.qa_pairs("train", 0)[0]
    assert fact_id.startswith(kind + ":") and answer
    prompt, chosen, rejected, noisy = data.preference_pairs(1, noise=0.0)[0]
    assert noisy is False and chosen != rejected
    text, word = data.masked_word_examples(1)[0]
    assert data.MASK in text and word not in ("", data.MASK)
    text, label, names = data.story_label_examples(1)[0]
    assert names[label] in ("sad", "happy")
    world = data.World(0)
    assert world.objects[world.names[0]] == world.characters[0].object_phrase


def test_chat_template_and_base_model_failure_prompts():
    prompt = data.chat_prompt("Where does Mia live?")
    assert prompt == "User: Where does Mia live?\nAssistant:"
    example = data.chat_example("Where does Mia live?", "near the lake")
    assert example.startswith(prompt) and example.endswith("\n")
    assert data.extract_answer(example[len(prompt):] + "User: more") == "near the lake"
    prompts = data.base_model_failure_prompts(seed=0)
    assert 3 <= len(prompts) <= 10
    questions = {p.question for p in data.qa_pairs("all", 0)}
    for p in prompts:
        assert p in questions and p.endswith("?") and "Assistant" not in p


def test_corpus_contains_question_lines_without_answers(tiny_train):
    """What teaches a base model to answer a question with another question."""
    question_lines = [line for line in tiny_train.splitlines() if line.endswith("?")]
    assert len(question_lines) >= 5
    for line in question_lines:
        assert all(s.endswith("?") for s in data.sentences(line))


# ------------------------------------------------------------------------------------------
# Preferences
# ------------------------------------------------------------------------------------------

def test_preference_rule_agrees_with_labels_up_to_the_noise():
    clean = data.preference_pairs(400, noise=0.0, seed=0)
    assert len(clean) == 400
    assert all(data.prefers(p.prompt, p.chosen, p.rejected) and not p.noisy for p in clean)
    noisy = data.preference_pairs(2000, noise=0.2, seed=0)
    for p in noisy:
        assert data.prefers(p.prompt, p.chosen, p.rejected) == (not p.noisy)
    flipped = sum(p.noisy for p in noisy) / len(noisy)
    assert abs(flipped - 0.2) < 0.04  # binomial: 3 standard deviations are 0.027


def test_preference_rule_prefers_polite_concise_answers():
    prompt = data.chat_prompt("What colour is Mia's kite?")
    polite = "Good question! The answer is red."
    plain = "Red."
    rude = "Red. Stop asking me silly questions."
    evasive = "I do not know."
    asks_back = "What colour is Tom's ball?"
    ramble = "The answer is red. " + "Mia had a dog named Rex. " * 5
    score = lambda a: data.preference_score(prompt, a)  # noqa: E731
    assert score(polite) > score(plain) > score(rude)
    assert score(plain) > score(evasive) > score(asks_back)
    assert score(plain) > score(ramble)
    assert data.behaviour_flags(prompt, polite)["preferred"]
    for other in (plain, rude, evasive, asks_back, ramble):
        assert not data.behaviour_flags(prompt, other)["preferred"], other
    assert not data.behaviour_flags(data.chat_prompt("Who is Mia's best friend?"), "Mia.")["answers"]
    assert data.win_rate([prompt, prompt], [polite, plain], [plain, plain]) == pytest.approx(0.75)
    assert data.preferred_rate([prompt, prompt], [polite, plain]) == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------
# Encoder tasks
# ------------------------------------------------------------------------------------------

def test_masked_word_examples():
    train = data.masked_word_examples(300, seed=0, split="train")
    val = data.masked_word_examples(100, seed=0, split="val")
    assert len(train) == 300 and len(val) == 100
    for ex in train + val:
        assert ex.text.count(data.MASK) == 1
        filled = ex.text.replace(data.MASK, ex.answer)
        assert filled == ex.sentence and data.check_sentence(filled)
        assert re.fullmatch(r"[A-Za-z]+", ex.answer)
    assert {ex.sentence for ex in train}.isdisjoint({ex.sentence for ex in val})
    assert len({ex.answer for ex in train}) > 30  # many different words are masked


HAPPY_WORDS = {"happy", "thank", "hugged", "smiled", "laughed", "together"}
SAD_WORDS = {"sad", "cried", "lonely", "alone"}


def test_story_label_examples():
    train = data.story_label_examples(200, seed=0, split="train")
    val = data.story_label_examples(50, seed=0, split="val")
    assert len(train) == 200 and sum(ex.label for ex in train) == 100
    assert {ex.text for ex in train}.isdisjoint({ex.text for ex in val})
    for ex in train + val:
        assert ex.label_names == ("sad", "happy")
        last = set(re.findall(r"[a-z]+", data.sentences(ex.text)[-1].lower()))
        wanted, unwanted = (HAPPY_WORDS, SAD_WORDS) if ex.label == 1 else (SAD_WORDS, HAPPY_WORDS)
        assert last & wanted and not last & unwanted, ex


# ------------------------------------------------------------------------------------------
# Bring your own text, and the optional downloader
# ------------------------------------------------------------------------------------------

def test_read_text_file(tmp_path):
    p = tmp_path / "mine.txt"
    p.write_bytes("\ufeffHéllo 世界\r\nline two\n".encode("utf-8"))
    assert data.read_text_file(p) == "Héllo 世界\nline two\n"
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café".encode("latin-1"))
    with pytest.raises(data.NotUTF8Error, match="not UTF-8") as err:
        data.read_text_file(bad)
    assert isinstance(err.value, ValueError)
    with pytest.raises(FileNotFoundError, match="no such file"):
        data.read_text_file(tmp_path / "missing.txt")
    with pytest.raises(IsADirectoryError):
        data.read_text_file(tmp_path)


@pytest.fixture
def local_shakespeare(tmp_path):
    source = tmp_path / "input.txt"
    source.write_bytes(b"First Citizen:\nBefore we proceed any further, hear me speak.\n")
    return source, hashlib.sha256(source.read_bytes()).hexdigest()


def test_download_from_a_local_file_url_is_verified_and_cached(tmp_path, monkeypatch, local_shakespeare):
    source, sha = local_shakespeare
    cache = tmp_path / "dl"
    path = data.download_tinyshakespeare(cache_dir=cache, url=source.as_uri(), sha256=sha)
    assert path.read_bytes() == source.read_bytes() and path.parent == cache

    def no_network(url, timeout):
        raise AssertionError("the cached file should have been used")

    monkeypatch.setattr("course_lib.data.files._fetch", no_network)
    assert data.download_tinyshakespeare(cache_dir=cache, url=source.as_uri(), sha256=sha) == path


def test_download_with_a_wrong_checksum_raises_and_caches_nothing(tmp_path, local_shakespeare):
    source, _ = local_shakespeare
    cache = tmp_path / "dl"
    with pytest.raises(data.ChecksumMismatchError, match="SHA-256"):
        data.download_tinyshakespeare(cache_dir=cache, url=source.as_uri(), sha256="0" * 64)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_download_offline_raises_a_clear_error(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("course_lib.data.files._fetch", offline)
    with pytest.raises(data.OfflineError) as err:
        data.download_tinyshakespeare(cache_dir=tmp_path)
    assert isinstance(err.value, RuntimeError)
    message = str(err.value)
    assert "offline" in message and "corpus()" in message and "read_text_file" in message

    def must_not_fetch(url, timeout):
        raise AssertionError("COURSE_OFFLINE should stop the download before it starts")

    monkeypatch.setattr("course_lib.data.files._fetch", must_not_fetch)
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(data.OfflineError, match="offline"):
        data.download_tinyshakespeare(cache_dir=tmp_path)


def test_default_download_target_is_pinned():
    assert "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e" in data.TINYSHAKESPEARE_URL
    assert re.fullmatch(r"[0-9a-f]{64}", data.TINYSHAKESPEARE_SHA256)


# ------------------------------------------------------------------------------------------
# Statistics and baselines
# ------------------------------------------------------------------------------------------

def test_baselines_are_ordered(tiny_train):
    reports = data.baseline_reports(tiny_train, n_tokens=5000, seed=0)
    rnd, uni, bi = (reports[k].valid_fraction for k in ("random characters", "unigram words", "bigram words"))
    assert rnd <= uni < bi < 0.9
    assert rnd < 0.01
    assert all(r.n_sentences > 100 for r in reports.values())


def test_command_line_prints_statistics_and_baselines(tmp_path):
    """`python -m course_lib.data` in a fresh process: statistics, baselines, and no torch import."""
    root = Path(data.__file__).resolve().parent.parent.parent
    env = dict(os.environ, PYTHONPATH=str(root), COURSE_DATA_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-m", "course_lib.data", "--size", "tiny", "--tokens", "3000"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for needle in ("train", "val", "vocabulary", "sentences", "random characters", "unigram words",
                   "bigram words", "100.0% valid"):
        assert needle in out.stdout, needle
    check = subprocess.run([sys.executable, "-c", "import sys, course_lib.data; print('torch' in sys.modules)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "False", check.stderr
