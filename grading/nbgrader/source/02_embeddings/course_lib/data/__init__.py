"""The course world: a small, seeded story world that every notebook trains and measures on.

Everything works offline, is deterministic for a given seed, and is small enough for a laptop CPU.

Pretraining (notebooks 01-07)
    World(seed)                       the facts: characters, what they own, where they live, ...
    corpus(split, size, seed)         short stories about the world (cached on disk)
    sentences(text)                   split text into sentences, as the grammar check does
    check_sentence(s), why_invalid(s) is a sentence valid in the world's grammar (and if not, why)
    grammar_report(text)              how many sentences of a text are valid
    vocabulary()                      the grammar's word list

Fine-tuning (notebook 08)
    qa_pairs(split, seed)             questions with answers; the test split holds out whole facts
    exact_match, qa_accuracy          scoring
    chat_prompt, chat_example, extract_answer, base_model_failure_prompts

RLHF (notebook 09)
    preference_pairs(n, noise, seed)  answer pairs labelled by a hidden rule (with label noise)
    preference_score, prefers, behaviour_flags, preferred_rate, win_rate

Encoder (notebook 05)
    masked_word_examples(n, seed, split), story_label_examples(n, seed, split), MASK

Your own text
    read_text_file(path), download_tinyshakespeare(...)

`python -m course_lib.data` prints the data set's statistics and the grammar validity of simple
baselines (random characters, unigram and bigram word models): the floor a trained model must beat.
"""

from .baselines import baseline_reports, corpus_statistics, detokenize, word_tokens
from .encoder_tasks import MASK, LabelledStory, MaskedExample, masked_word_examples, story_label_examples
from .files import (
    TINYSHAKESPEARE_SHA256,
    TINYSHAKESPEARE_URL,
    ChecksumMismatchError,
    DownloadError,
    NotUTF8Error,
    OfflineError,
    download_tinyshakespeare,
    read_text_file,
)
from .grammar import PUNCTUATION, GrammarReport, check_sentence, grammar_report, sentences, vocabulary, why_invalid
from .preferences import (
    PreferencePair,
    behaviour_flags,
    preference_pairs,
    preference_score,
    preferred_rate,
    prefers,
    win_rate,
)
from .qa import QAPair, base_model_failure_prompts, chat_example, chat_prompt, exact_match, extract_answer, qa_accuracy, qa_pairs
from .stories import GENERATOR_VERSION, LABEL_NAMES, SIZES, cache_dir, corpus, corpus_path, generate_corpus
from .world import Character, Fact, World

__all__ = [
    "World", "Character", "Fact",
    "corpus", "corpus_path", "generate_corpus", "cache_dir", "SIZES", "GENERATOR_VERSION",
    "sentences", "check_sentence", "why_invalid", "grammar_report", "GrammarReport", "vocabulary", "PUNCTUATION",
    "QAPair", "qa_pairs", "exact_match", "qa_accuracy", "chat_prompt", "chat_example", "extract_answer",
    "base_model_failure_prompts",
    "PreferencePair", "preference_pairs", "preference_score", "prefers", "behaviour_flags",
    "preferred_rate", "win_rate",
    "MASK", "MaskedExample", "LabelledStory", "LABEL_NAMES", "masked_word_examples", "story_label_examples",
    "read_text_file", "download_tinyshakespeare", "TINYSHAKESPEARE_URL", "TINYSHAKESPEARE_SHA256",
    "NotUTF8Error", "DownloadError", "OfflineError", "ChecksumMismatchError",
    "baseline_reports", "corpus_statistics", "word_tokens", "detokenize",
]
