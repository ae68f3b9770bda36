# Notebook 01 of the course: tokenization. Percent format: see grading/build.py.

# %% [markdown]
# # 01 · Tokenization: from text to numbers
#
# A language model never sees letters. It sees a list of integers, one per *token*, and the program
# that turns text into those integers (and back) is the **tokenizer**. It is the first and the last
# thing every model runs, it decides how long every sequence is, and its quirks explain many odd
# model behaviours ("why can't it count the r's in strawberry?").
#
# In this notebook you build the kind of tokenizer GPT-2, GPT-4, Llama 3 and Qwen use: **byte-level
# byte-pair encoding (BPE)**, with a GPT-style pre-split, special tokens and a file format.
#
# | § | you write | what it does |
# |---|---|---|
# | 1 | `get_pair_counts` in `course_lib/tokenization.py` | count neighbouring pairs of token ids |
# | 2 | `merge_pair` | replace every occurrence of a pair by a new id |
# | 3 | `IncrementalPairCounts`, `train_bpe` | learn the merges from text, fast |
# | 4 | `encode_chunk`, `encode` | text → ids (special tokens included) |
# | 5 | `decode` | ids → text, for *every* string |
# | after §5 | `tokens_per_english_word`, `tokens_per_chinese_character`, in **this notebook** | measure what your tokenizers cost per word and per character |
# | 6 | `Tokenizer.save`, `Tokenizer.load` | a readable, versioned tokenizer file |
#
# Along the way you will *measure* things with your own tokenizer: how fast a word vocabulary
# grows, how many bytes a Chinese character takes, how many tokens an English word and a Chinese
# character cost, and how compression improves with the vocabulary size. At the end, a playground
# shows any text you type as coloured tokens.
#
# **How to work.** Open `course_lib/tokenization.py` next to this notebook. Each section below
# explains one idea and names the function to write; its docstring says exactly what to return.
# Replace the `raise NotImplementedError(...)` under `# YOUR CODE HERE` with your code, save the
# file, and run the section's check cell: it prints ✓, or ✗ with what your code returned and what
# was expected. Hints are folded under each exercise: open them one at a time, only when you are
# stuck. You can "Run All" at any stage: a cell that needs a function you have not written yet
# says which one and skips the rest of its cell.

# %% [setup]
from course_lib.checks import check, needs
from course_lib import device

print(device.describe())

# %% [markdown]
# The next cell imports what we need and loads the text we train on: the course corpus, short
# stories about a small made-up world that `course_lib.data` generates on your machine (no
# download). The same stories are used to train the models of notebooks 05–09. `autoreload`
# re-reads `course_lib/tokenization.py` when you edit it, so the notebook's cells use your latest
# code without restarting the kernel (a check always runs the file as it is on disk now).

# %%
%load_ext autoreload
%autoreload 1
%aimport course_lib.tokenization

import html
import re
import sysconfig
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from course_lib import data
from course_lib.checks import check_all
from course_lib.tokenization import (
    GPT2_SPLIT_PATTERN,
    GPT4_SPLIT_PATTERN,
    BPETokenizer,
    Tokenizer,
    decode,
    encode,
    get_pair_counts,
    merge_pair,
    split_text,
    train_bpe,
)

MODE = device.run_mode()
SIZES = {  # stories to train on (~50 KB, ~500 KB, ~3 MB) and the vocabulary of §3
    "smoke": dict(corpus="tiny", vocab=512, plot_sizes=5),
    "quick": dict(corpus="small", vocab=1024, plot_sizes=8),
    "full": dict(corpus="default", vocab=4096, plot_sizes=14),
}[MODE]
corpus = data.corpus(split="train", size=SIZES["corpus"])
val_corpus = data.corpus(split="val", size=SIZES["corpus"])
print(f"{MODE} mode: {len(corpus):,} characters of training stories, {len(val_corpus):,} of validation stories")
print(corpus[:400])

# %% [markdown]
# The course corpus is all English. To talk about other languages we also need some text of our
# own: a few paragraphs in English and in Chinese, written for this course. The *train* paragraphs
# may be used to train a tokenizer; the *test* paragraphs (the same content in both languages) are
# kept apart to measure it fairly.

# %%
ENGLISH_TRAIN = """\
Most people are happy when the weather is warm, and a little unhappy when it rains for a whole week. Happiness, however, is not only about the weather. A kind word from a friend, a helpful neighbour or a careful teacher can make an unhappy day feel much better. People who are kind to others often say that kindness makes them happier too.

Computers do not read letters or words. They read numbers. Before a language model can learn anything from a sentence, the sentence has to be turned into a list of integers, and the program that does this is called a tokenizer. A good tokenizer is fast, it never fails on unusual text, and it produces short lists for the kind of text the model will see most often.

Byte pair encoding starts from the smallest possible pieces, single bytes, and repeatedly glues together the pair that appears most often. After a few hundred steps, common words such as "the", "and" or "was" have become single tokens, while rare words are still spelled out from smaller pieces. Nothing is ever unknown: in the worst case, a word is simply written byte by byte.

The old lighthouse keeper walked carefully along the rocky shore every evening. He counted the boats coming home, wrote their names in a thick notebook and waved at the children who played near the harbour. When the fog was heavy, he lit the great lamp and listened to the bells of the ships until the last one was safely back.

Learning a new language is easier when you can see how words are built. In English, "un" turns happy into unhappy and kind into unkind, "ness" turns happy into happiness, and "ly" turns happy into happily. Many other languages build words in similar ways, and a tokenizer that keeps such pieces together can reuse them across thousands of words.
"""

ENGLISH_TEST = """\
On Saturday morning the market was full of people buying fresh bread, ripe tomatoes and bright yellow flowers. An old man played the violin next to the fountain, and a small dog sat beside him, watching the coins fall into an open case. By noon the sun was hot, the stalls were nearly empty, and everyone went home with heavy bags and tired feet.

Scientists measure how much light distant stars give off in order to estimate how far away they are. The method is simple in principle but difficult in practice, because dust between the stars absorbs part of the light. Careful observations over many years have nevertheless produced a surprisingly accurate map of our galaxy.
"""

CHINESE_TRAIN = """\
今天天气很好，我们一家人去公园散步。公园里有很多人，有的在跑步，有的在放风筝，还有几个孩子在湖边喂鸭子。妈妈说，春天是一年中最美的季节，因为到处都是花，空气里也有青草的味道。

计算机不认识文字，它只认识数字。所以在语言模型学习一句话之前，我们要先把这句话变成一串整数。做这件事的程序叫做分词器。一个好的分词器速度快，不会因为奇怪的字符而出错，而且能把常见的文字变成比较短的序列。

学习一门新的语言需要耐心。每天读一点书，听一点音乐，和朋友说几句话，慢慢地就会发现自己进步了很多。不要害怕犯错误，因为每一个错误都能告诉我们下一次应该怎么做。

我的爷爷住在一个安静的小村子里。他每天早上六点起床，先给院子里的花浇水，然后去河边钓鱼。中午他喜欢睡一会儿午觉，下午再和邻居们下棋、喝茶、聊天。他常说，简单的生活就是最幸福的生活。
"""

CHINESE_TEST = """\
周末的早上，市场里非常热闹。人们在买新鲜的面包、水果和蔬菜，一位老人在喷泉旁边拉小提琴，一只小狗安静地坐在他身边。到了中午，太阳越来越热，大家提着满满的袋子慢慢地回家了。

科学家通过测量星星发出的光来估计它们离我们有多远。这个方法听起来很简单，做起来却很难，因为星星之间的尘埃会吸收一部分光。经过很多年的仔细观察，人们终于画出了一张相当准确的银河系地图。
"""

# %% [markdown]
# ## Why subwords?
#
# ### Words: the vocabulary never stops growing
#
# The obvious tokenizer gives every *word* an id. The trouble is that real text keeps producing words
# you have not seen: names, numbers, typos, new coinages, *unhappiest*. A word tokenizer must map
# all of them to one "unknown" id, and the model cannot read them at all.
#
# Let us measure it: read a text word by word and count how many *distinct* words we have met so
# far. We do it on two texts: our course corpus, and some real English prose that every Python
# installation ships with, the docstrings of the standard library.

# %%
def words_of(text):
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())


def vocabulary_growth(words, points=60):
    """(words read, distinct words so far) at `points` evenly spaced places."""
    seen, xs, ys = set(), [], []
    step = max(1, len(words) // points)
    for i, word in enumerate(words, start=1):
        seen.add(word)
        if i % step == 0 or i == len(words):
            xs.append(i)
            ys.append(len(seen))
    return xs, ys


def python_docs_english(max_chars=1_000_000):
    """English prose shipped with Python itself: the long docstrings of the standard library."""
    parts = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parts += [doc for doc in re.findall(r'"""(.*?)"""', source, flags=re.S) if len(doc) > 200]
    return "\n\n".join(parts)[:max_chars]


story_words = words_of(corpus)
docs_words = words_of(python_docs_english())
n = min(len(story_words), len(docs_words)) or len(story_words)
fig, ax = plt.subplots(figsize=(7, 3.8))
for name, words in [("course stories", story_words[:n]), ("Python's docstrings (real English)", docs_words[:n])]:
    if words:
        ax.plot(*vocabulary_growth(words), label=name)
ax.set_xlabel("words read")
ax.set_ylabel("distinct words seen so far")
ax.set_title("A word vocabulary keeps growing (on real text)")
ax.legend()
plt.show()

print(f"Course stories: {len(set(story_words)):,} distinct words in {len(story_words):,}.")
if docs_words:
    half = len(docs_words) // 2
    first_half = set(docs_words[:half])
    unseen = sum(word not in first_half for word in docs_words[half:]) / (len(docs_words) - half)
    print(f"Python docs: {len(set(docs_words)):,} distinct words in {len(docs_words):,}; "
          f"{unseen:.1%} of the words of the second half never occur in the first half.")

# %% [markdown]
# The course stories stop at the few hundred distinct words printed above: their world is small
# *on purpose*, so that a model trained on a laptop can learn it. Real English does not stop: each
# new page brings new words. The last line above gives the share of the words of the second half of
# the Python docs that never occur in the first half: a word tokenizer trained on the first half
# would not know any of them. Look at the size of that share: not a rare accident but a steady
# part of every page. A GPT-sized word vocabulary would need millions of entries and would still
# meet unknown words.
#
# ### Characters and bytes: never unknown, but long
#
# At the other extreme, give every *character* an id. Nothing is unknown any more... except that
# Unicode has about 150,000 characters (Chinese alone uses thousands), emoji keep being added, and
# sequences get long. Modern tokenizers go one level lower, to **UTF-8 bytes**: every string,
# in every language, is a sequence of numbers between 0 and 255. English letters take one byte,
# accented letters two, Chinese characters three, emoji four:

# %%
for text in ["hello", "请介绍一下《孙子兵法》这本书"]:
    raw = text.encode("utf-8")
    print(f"{text!r}: {len(text)} characters -> {len(raw)} bytes ({len(raw) / len(text):.1f} bytes per character)")
    print("   ", list(raw))
print()
print("char  code point  UTF-8 bytes    bytes")
for ch in "hé请《🙂":
    print(f"{ch:4}  U+{ord(ch):06X}    {ch.encode('utf-8').hex(' '):13}  {len(ch.encode('utf-8'))}")

# %% [markdown]
# So a byte-level model reads the 14-character Chinese sentence as 42 numbers, and "hello" as 5.
# Byte sequences are never unknown but they are long, and a Transformer's cost grows with the
# sequence length (notebook 04 shows how fast).
#
# ### Subwords: the best of both
#
# **Byte-pair encoding** starts from the 256 bytes and learns, from a training text, which
# neighbouring pieces to glue together: first the most frequent pair of bytes (say `e` + ` `),
# then the most frequent pair of *tokens*, and so on, a few thousand times. Each glue step is a
# **merge** and gets a new id (256, 257, ...). Frequent words end up as one token; rare words
# are spelled from smaller pieces that they share with other words (*happy*, *un*-happy,
# happi-*ness*); and any string can still be written byte by byte. GPT-2 learned 50,000 merges,
# GPT-4 about 100,000.
#
# ## §1 Counting pairs
#
# Training repeats one question: *which pair of neighbours is the most frequent?* In
# `[1, 2, 3, 1, 2]` the neighbours are (1, 2), (2, 3), (3, 1), (1, 2), so (1, 2) occurs twice.
#
# **Your turn:** write `get_pair_counts(ids, counts=None)`. It returns a dict from each pair
# `(ids[i], ids[i + 1])` to how often it occurs. Pairs overlap (`[1, 1, 1]` holds (1, 1) twice).
# When a `counts` dict is given, add into it and return that same dict, even when it is empty:
# that is how training sums the counts of many pieces of text into one dict.
#
# <details><summary>Hint 1</summary>
#
# A list of n ids has n − 1 neighbouring pairs: `(ids[0], ids[1])`, `(ids[1], ids[2])`, ...,
# `(ids[n-2], ids[n-1])`. `zip(ids, ids[1:])` walks through exactly these pairs.
# </details>
#
# <details><summary>Hint 2</summary>
#
# Decide first which dict you fill: the caller's when one is given, a new `{}` only when `counts is
# None`. (Not `counts or {}`: an empty dict is falsy, and the caller's empty dict would stay empty.)
# Then add 1 per pair; `d.get(key, 0)` reads a count that may not exist yet.
# </details>
#
# <details><summary>Hint 3 (code)</summary>
#
# ```python
# if counts is None:
#     counts = {}
# for pair in zip(ids, ids[1:]):
#     ...  # add 1 to the count of `pair`
# return counts
# ```
# </details>

# %% [test tokenization.get_pair_counts points=1 hidden]

# %% [markdown]
# Your function on the bytes of the first story: the most frequent pairs are letters that often
# follow each other in English, and letters followed by a space (the ends of words).

# %%
with needs():
    first_story = corpus.split("\n\n")[0]
    counts = get_pair_counts(list(first_story.encode("utf-8")))
    top = sorted(counts.items(), key=lambda item: -item[1])[:8]
    for (a, b), n in top:
        print(f"{bytes([a, b])!r:10} {n} times")

# %% [markdown]
# ## §2 Merging a pair
#
# A merge replaces every occurrence of the chosen pair by the new id. Occurrences are taken left
# to right and **do not overlap**: merging (7, 7) in `[7, 7, 7]` gives `[99, 7]`, because once the
# first two 7s are glued, the middle 7 is used up.
#
# **Your turn:** write `merge_pair(ids, pair, new_id)`. Return a *new* list and leave `ids` as it
# was.
#
# <details><summary>Hint 1</summary>
#
# A `for` loop moves one step at a time, but after a merge you must jump over *two* ids. Use an
# index `i` and a `while i < len(ids)` loop, and build the result in a new list.
# </details>
#
# <details><summary>Hint 2</summary>
#
# At position `i` the pair starts when there is a next id (`i + 1 < len(ids)`) and
# `(ids[i], ids[i + 1])` equals `pair`: then append `new_id` and move `i` on by 2. Otherwise append
# `ids[i]` and move on by 1. The last id must not be forgotten when it is not merged.
# </details>
#
# <details><summary>Hint 3 (code)</summary>
#
# ```python
# merged, i = [], 0
# while i < len(ids):
#     if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
#         ...  # a merge: new_id, and skip both ids
#     else:
#         ...  # copy ids[i], move on by one
# return merged
# ```
# </details>

# %% [test tokenization.merge_pair points=1 hidden]

# %% [markdown]
# With the two functions you can already run BPE by hand. Ten merges on one sentence: each step
# finds the most frequent pair, gives it the next id and merges it. Watch the sequence shrink and
# the tokens grow.

# %%
with needs():
    sentence = "the cat sat on the mat and the dog sat on the log"
    ids = list(sentence.encode("utf-8"))
    pieces = {i: bytes([i]) for i in range(256)}
    lines = [f"start: {len(ids)} tokens"]
    for new_id in range(256, 266):
        counts = get_pair_counts(ids)
        pair = min(counts, key=lambda p: (-counts[p], p))        # most frequent; ties: smallest pair
        ids = merge_pair(ids, pair, new_id)
        pieces[new_id] = pieces[pair[0]] + pieces[pair[1]]
        shown = "|".join(pieces[i].decode("utf-8") for i in ids)
        lines.append(f"merge {pieces[new_id].decode()!r:8} -> {new_id}: {len(ids):2} tokens  {shown}")
    print("\n".join(lines))

# %% [markdown]
# ## §3 Training
#
# ### The pre-split
#
# Run BPE on raw text, as we just did, and you get tokens like `"on the "` that glue words
# together (or `"dog."`, glued to punctuation), and the same word gets different tokens in
# different places. GPT-2 introduced a fix: first cut the text into **chunks** with a regular
# expression (a word with its leading space, a number, punctuation, whitespace), and never merge
# across chunks. Here is the GPT-4 pattern (`GPT4_SPLIT_PATTERN`, written for Python's `re`) at work:

# %%
example = "Hello world! It's 2024... I've got 12345 apples 🍎🍎 请介绍一下《孙子兵法》\n\n  ok"
for name, pattern in [("GPT-2", GPT2_SPLIT_PATTERN), ("GPT-4", GPT4_SPLIT_PATTERN)]:
    print(f"{name}: " + "|".join(repr(chunk)[1:-1] for chunk in split_text(example, pattern)))
chunks = split_text(corpus, GPT4_SPLIT_PATTERN)
print(f"\nthe training stories: {len(chunks):,} chunks, of which {len(set(chunks)):,} distinct")

# %% [markdown]
# Words keep their leading space (`" world"`), contractions are split off (`"'s"`), GPT-4 cuts
# numbers into groups of at most three digits, and the chunks always join back to the original
# text. A bonus (last line): the stories have many chunks but few *distinct* ones, so training
# can count each distinct chunk once and multiply by how often it occurs.
#
# **Chinese is different.** The pattern's "word" is a run of letters, every Chinese character
# counts as a letter, and Chinese puts no spaces between words, so the pre-split only cuts Chinese
# at punctuation: a whole clause of several words is one chunk.

# %%
for text in [CHINESE_TRAIN.split("\n")[0], ENGLISH_TRAIN.split("\n")[0]]:
    pieces = split_text(text, GPT4_SPLIT_PATTERN)
    words = [p for p in pieces if re.search(r"\w", p)]
    print(" | ".join(pieces[:14]), "| ...")
    print(f"   {len(words)} chunks with letters, {sum(map(len, words)) / len(words):.1f} characters on "
          f"average, the longest: {max(words, key=len)!r} ({len(max(words, key=len))} characters)\n")

# %% [markdown]
# In the first paragraph of our Chinese training text, a chunk is a whole clause such as
# `，我们一家人去公园散步` ("our family went for a walk in the park": five or six words, plus the comma
# before them, which GPT-4's pattern attaches to a word like the space in `" world"`), while an
# English chunk is one word. So for Chinese, merges can cross word boundaries (a token may end in the
# middle of one word and continue into the next) and frequent multi-word phrases can become single
# tokens; for English they never can. The pre-split was designed for languages that put spaces
# between words, and for the others it does much less.
#
# ### Counting incrementally
#
# The naive trainer recounts every pair of the whole text after each merge: thousands of merges
# times millions of pairs. But a merge only changes the chunks that contain the merged pair, so we
# keep, for every pair, the set of chunks where it occurs (`where`), and after a merge we subtract
# the old pairs and add the new pairs of just those chunks. A heap of `(-count, pair)` entries
# finds the most frequent pair without scanning all counts; when a count changes we push a new
# entry and skip the outdated ("stale") ones when they reach the top.
#
# **Your turn:** in `course_lib/tokenization.py`, write the three methods of
# `IncrementalPairCounts` (`__init__`, `most_frequent`, `merge`) and then `train_bpe`. The rule
# for ties matters, because it makes training reproducible: take the **highest count, and among
# equal counts the smallest pair**, i.e. `min(counts, key=lambda p: (-counts[p], p))`. The check
# compares your merges, step by step, with the expected ones; training on the course corpus (the
# cell after the check) should then take seconds, not minutes.
#
# <details><summary>Hint 1: __init__ and most_frequent</summary>
#
# In `__init__`, chunk `k` occurs `freqs[k]` times in the text, so each occurrence of a pair in it
# adds `freqs[k]` to that pair's count; `get_pair_counts(chunk)` gives the occurrences, and `k`
# goes into the set `where[pair]`. The heap is the list of `(-count, pair)` entries, turned into a
# heap by `heapq.heapify`. In `most_frequent`, the top entry `self.heap[0]` is stale when its count
# differs from `self.counts.get(pair)`: `heapq.heappop` it and look again.
# </details>
#
# <details><summary>Hint 2: merge</summary>
#
# For each chunk index `k` in `self.where.pop(pair)`: compute the chunk's pair counts before and
# after `merge_pair`, and collect `freqs[k] * (after - before)` per pair in a `delta` dict. Pairs
# that vanished from the chunk lose `k` from their `where` set, new ones gain it. Then apply each
# nonzero delta: a count that reaches 0 is deleted (with its `where` entry), any other count gets a
# fresh heap entry `(-count, pair)` with `heapq.heappush`.
# </details>
#
# <details><summary>Hint 3: train_bpe (code)</summary>
#
# ```python
# chunk_counts = Counter(split_text(text, split_pattern))        # distinct chunk -> how often
# stats = IncrementalPairCounts([list(text_to_bytes(c)) for c in chunk_counts],
#                               list(chunk_counts.values()))
# merges, vocab = {}, {i: bytes([i]) for i in range(256)}
# for new_id in range(256, vocab_size):
#     ...  # ask stats for the most frequent pair (stop on None), merge it, record it
# return merges, vocab
# ```
# </details>

# %% [test tokenization.train_bpe points=3 hidden]

# %% [markdown]
# Now train on the course corpus. (A vocabulary size larger than what the text can use is fine:
# training stops when every chunk has become a single token.)

# %%
VOCAB_SIZE = SIZES["vocab"]
merges = vocab = None
with needs():
    started = time.perf_counter()
    merges, vocab = train_bpe(corpus, VOCAB_SIZE, verbose=True)
    print(f"learned {len(merges)} merges from {len(corpus):,} characters in {time.perf_counter() - started:.2f} s")
    print("first 24 merges:", [vocab[i].decode("utf-8", "replace") for i in range(256, min(280, len(vocab)))])
    longest = sorted(vocab.values(), key=len, reverse=True)[:12]
    print("longest tokens: ", [token.decode("utf-8", "replace") for token in longest])


def needs_result(value, cell):
    """Stop the current cell (see `needs`) if `value` is None because `cell` was skipped."""
    if value is None:
        raise NotImplementedError(f"the result of {cell}, which was skipped: run that cell again "
                                  "once the functions it names are written")


# %% [markdown]
# The first merges are the most frequent pieces of English (`"he"`, `" t"`, `" the"`...); the last
# ones are whole words and names of the story world.
#
# **Back to *happy*.** Does the tokenizer find the pieces that *happy*, *unhappy* and *happiness*
# share? The story corpus has *happy* but none of its relatives, so we add our English and Chinese
# paragraphs to the training text and look at the family with the first *k* merges, for several
# *k*. (Training is greedy, so the first *k* merges of a long training run are exactly what a
# run with a vocabulary of 256 + *k* would learn: we can train once and truncate.) The training
# needs `train_bpe`; the table after it also needs `encode` (§4).

# %%
mixed_text = corpus + "\n\n" + ENGLISH_TRAIN + "\n\n" + CHINESE_TRAIN
mixed_merges = mixed_vocab = mixed_items = None
with needs():
    mixed_merges, mixed_vocab = train_bpe(mixed_text, VOCAB_SIZE * 2)
    mixed_items = list(mixed_merges.items())           # in the order learned
    print(f"learned {len(mixed_items)} merges from the stories and our paragraphs")

# %%
with needs():
    needs_result(mixed_items, "the training cell above")
    def shown(ids):
        """The tokens of `ids` joined by |, with each space shown as ·."""
        return "|".join(mixed_vocab[i].decode("utf-8", "replace") for i in ids).replace(" ", "·")

    family = [" happy", " unhappy", " happiness", " happily", " kind", " unkind", " kindness"]
    sizes = sorted({min(len(mixed_items), k) for k in (500, 900, 1100, 1300, 1500, 1900)})
    print("(· is a space)")
    for k in sizes:
        prefix = dict(mixed_items[:k])
        print(f"{256 + k:5} tokens: " + "  ".join(f"{shown(encode(word, prefix)):>15}" for word in family))
    print("\nwith all merges:")
    for word in [" happy", "happy", " unhappy", "Happy", " Happy"]:
        ids = encode(word, mixed_merges)
        print(f"   {word!r:11} -> ids {ids}: {shown(ids)}")

# %% [markdown]
# Read the table from top to bottom. With few merges, the relatives are spelled from small pieces
# they share (`ha`, `pp`...); with more merges, longer shared pieces appear and are reused across
# the family (look for `·happ` or `·kind` followed by `iness`, `ily` or `ness`);
# with many merges, every word that occurs often enough in the training text becomes a single
# token. A tokenizer trained on billions of words keeps very frequent words whole and builds rarer
# relatives from shared pieces, so a model that has learned what `" happ"` tends to mean can use it
# in words it rarely saw. (BPE only counts; the pieces follow frequency, not grammar, so they match
# *un-* or *-ness* only when the statistics say so.)
#
# **Why `" happy"`, with its space?** The pre-split glues each word to the space before it, so in
# running text the chunk is `" happy"`, and the tokens learned for it include the space. Inside
# `" unhappy"` the letters *happy* follow *un*, not a space, so they can never use the token
# `" happy"`; and `"happy"` at the start of a line, or `"Happy"` at the start of a sentence, are
# other chunks again. The last lines above show it: `" happy"` and `"happy"` have different ids, and
# `"Happy"` is spelled from other pieces again. (If `"happy"` without its space is a single token in
# your run, it was learned as a piece of `" unhappy"`.) A model has to learn from data that these
# ids mean (nearly) the same thing; nothing in the ids tells it.
#
# ## §4 Encoding
#
# To encode new text, cut it into chunks with the same pattern, turn each chunk into bytes and
# **replay the merges in the order they were learned**: repeatedly apply, among the pairs present,
# the one with the smallest new id, until no pair of the chunk is a known merge. (Applying the most
# *frequent* pair, or the merges in a dict's order, gives different tokens from the ones the model
# was trained on.)
#
# *Special tokens* such as `<|endoftext|>` are ids outside the learned vocabulary that mark the
# boundaries of documents or chat turns. `encode` handles them first, according to
# `allowed_special`: `"all"` turns their text into their ids, `"none"` treats it as ordinary text,
# and the default `"none_raise"` refuses text that contains them (so that a user typing
# `<|endoftext|>` cannot inject the real token by accident).
#
# **Your turn:** write `encode_chunk(chunk, merges)` and then `encode(text, merges, ...)`. Use
# `text_to_bytes(chunk)` for the bytes (it also accepts strings that strict UTF-8 refuses, see §5).
#
# <details><summary>Hint 1: encode_chunk</summary>
#
# A merge's rank is its new id: smaller means learned earlier. Among the neighbouring pairs of the
# current ids, pick the one with the smallest rank (`merges.get(pair, math.inf)` gives unknown
# pairs an infinite rank), merge it with `merge_pair`, and repeat; stop when the best pair is not
# in `merges` or fewer than two ids are left.
# </details>
#
# <details><summary>Hint 2: special tokens in encode</summary>
#
# With `allowed_special="all"`, `re.split` with a *capturing* group, built from
# `re.escape(name)` of each special name (longest first, so that the longer of two overlapping
# names wins), keeps the special tokens in the result at the odd positions:
# `"a<|endoftext|>b"` → `["a", "<|endoftext|>", "b"]`. With `"none_raise"`, raise `ValueError`
# when a name occurs in the text; with `"none"` there is nothing to cut out.
# </details>
#
# <details><summary>Hint 3: ordinary text (code)</summary>
#
# ```python
# for chunk in split_text(piece, split_pattern):
#     ids.extend(encode_chunk(text_to_bytes(chunk), merges))
# ```
# The same chunk (`" the"`) comes back again and again: a dict from chunk to its ids makes long
# texts much faster.
# </details>

# %% [test tokenization.encode points=3 hidden]

# %%
with needs():
    needs_result(merges, "the training cell of §3")
    sample = "Mia has a red kite. The unhappy dragon flew over 12345 mountains!"
    ids = encode(sample, merges)
    print(f"{len(sample)} characters, {len(sample.encode())} bytes -> {len(ids)} tokens")
    print(ids)
    print("|".join(vocab[i].decode("utf-8", "replace") for i in ids))
    print('" Mia" ->', encode(" Mia", merges), '   "Mia" ->', encode("Mia", merges))

# %% [markdown]
# Words of the story world are single tokens; *dragon* and *mountains* never occur in the stories
# and are spelled from pieces, and so are the digits, which the stories hardly use. Look at *Mia*
# too: as with `" happy"`, in the stories a name nearly always follows a space, and `" Mia"` and
# `"Mia"` are different chunks, hence different tokens.
#
# ### Compression against vocabulary size
#
# A bigger vocabulary means fewer tokens for the same text: shorter sequences, so more text fits in
# the model's context and every step is cheaper, but a bigger embedding table (notebook 02) and rarer
# tokens with less training signal each. Let us measure the compression, in UTF-8 bytes per token,
# for vocabularies of several sizes (truncations of the merges learned above), on three held-out
# texts: new stories of the same world, our English test paragraphs, our Chinese test paragraphs.
# Left: the tokenizer trained on the stories; right: the one trained on the stories plus our
# English and Chinese training paragraphs.

# %%
def bytes_per_token(merge_items, text, size):
    """Compression of `text` by the first size - 256 merges."""
    return len(text.encode("utf-8")) / max(1, len(encode(text, dict(merge_items[: size - 256]))))


with needs():
    needs_result(merges, "the training cell of §3")
    needs_result(mixed_items, "the first cell of 'Back to happy'")
    eval_texts = {"new course stories": val_corpus[:50_000], "English paragraphs": ENGLISH_TEST,
                  "Chinese paragraphs": CHINESE_TEST}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, (title, items) in zip(axes, [("trained on the stories", list(merges.items())),
                                         ("trained on stories + our paragraphs", mixed_items)]):
        sizes = sorted({256 + round(i * len(items) / (SIZES["plot_sizes"] - 1)) for i in range(SIZES["plot_sizes"])})
        print(f"{title}, vocabulary {sizes[0]} -> {sizes[-1]}:")
        for name, text in eval_texts.items():
            ratios = [bytes_per_token(items, text, size) for size in sizes]
            ax.plot(sizes, ratios, marker="o", label=name)
            print(f"   {name:20}: {ratios[0]:.2f} -> {ratios[-1]:.2f} bytes per token")
        ax.set_title(title)
        ax.set_xlabel("vocabulary size (256 bytes + merges)")
    axes[0].set_ylabel("UTF-8 bytes per token")
    axes[0].legend()
    plt.show()

# %% [markdown]
# Compare with the lines printed above the plot. On stories like the training text, compression
# climbs to several bytes per token. On other English it climbs much less: the merges fit the story
# world. On the left, Chinese stays at exactly one byte per token: that tokenizer has never seen a
# Chinese character, so it falls back to bytes. On the right, Chinese improves only at the end:
# merges are learned in order of frequency, and four short paragraphs are rare next to the stories,
# so their pieces come last (and only the characters they contain get merges). A tokenizer
# compresses what it was trained on, which is why the training mix of a real tokenizer is chosen as
# carefully as its size.
#
# ## §5 Decoding
#
# Decoding looks up the bytes of each id and joins them. Two traps:
#
# * A token can hold *part* of a character (a Chinese character is three bytes, and they may sit in
#   different tokens), so decode the **joined** bytes once, not each token separately. And a model
#   can generate any sequence of ids, including half a character: decoding must never crash, so
#   invalid bytes become the replacement character "�".
# * A Python `str` can contain a lone surrogate such as `"\ud800"` (it turns up in broken JSON or
#   file names) that strict UTF-8 refuses. `text_to_bytes` and `bytes_to_text`, provided (in
#   `course_lib/_tokenization_utils.py`), keep such strings intact, so that
#   `decode(encode(s)) == s` holds for **every** `str`.
#
# **Your turn:** write `decode(ids, vocab, special_tokens=None)` with `bytes_to_text`, and raise a
# `ValueError` naming any id that is neither in the vocabulary nor a special token.
#
# <details><summary>Hint 1</summary>
#
# Do not decode token by token: collect the bytes of every token in a list, join them with
# `b"".join(...)` and decode once.
# </details>
#
# <details><summary>Hint 2</summary>
#
# A special token's id is not in `vocab`: invert `special_tokens` into a dict id → text, and use
# `text_to_bytes(text)` for its bytes. `operator.index(token_id)` turns numpy or torch integers
# into Python ints (and refuses floats).
# </details>
#
# <details><summary>Hint 3</summary>
#
# Decode the joined bytes with `bytes_to_text` (it never raises and keeps lone surrogates), and for
# an id in neither dict `raise ValueError(f"unknown token id {token_id}")`.
# </details>

# %% [test tokenization.decode points=2 hidden]

# %%
with needs():
    needs_result(merges, "the training cell of §3")
    for text in ["hello world", "请介绍一下《孙子兵法》这本书", "emoji 🙂👍🏽 👩‍👩‍👧", "café vs cafe\u0301",
                 "lone \ud800 surrogate", ""]:
        ids = encode(text, merges)
        back = decode(ids, vocab)
        print(f"{'✓' if back == text else '✗'} {len(ids):3} tokens  {text!r}")
    ni = list("你".encode("utf-8"))
    print(f"\nthe three bytes of 你 {ni}: together -> {decode(ni, vocab)!r}, one by one -> "
          f"{[decode([b], vocab) for b in ni]}")

# %% [markdown]
# ## Measuring: tokens per English word and per Chinese character
#
# A rule of thumb says **100 tokens ≈ 75 English words ≈ 50 Chinese characters**, that is about
# 1.33 tokens per English word and 2 tokens per Chinese character. Where does it come from? The
# English half is OpenAI's own estimate for its GPT models' tokenizers (its help pages on tokens:
# a token is about 4 characters or ¾ of a word of common English text, so 100 tokens ≈ 75 words).
# The Chinese half is not an official figure: it is a rough number repeated in guides and blog
# posts about the same tokenizers, and such guides quote anything from about one to three tokens
# per Chinese character. Both describe tokenizers with 50,000–100,000 merges learned mostly from
# English web text. Let us measure what *your* tokenizers cost, on the held-out test paragraphs.
#
# We have two tokenizers: `tok_stories`, trained on the course stories only (§3), and `tok_mixed`,
# trained on the stories plus our English and Chinese training paragraphs.

# %%
tok_stories = tok_mixed = None
with needs():
    needs_result(merges, "the training cell of §3")
    needs_result(mixed_merges, "the first cell of 'Back to happy'")
    tok_stories = Tokenizer(merges)
    tok_mixed = Tokenizer(mixed_merges)
    print(tok_stories, tok_mixed, sep="\n")

# %% [markdown]
# **Your turn (in the notebook):** complete the two functions. Count English words with a regular
# expression such as `[A-Za-z]+(?:'[A-Za-z]+)?`, and Chinese characters as the characters in the
# CJK range `[\u4e00-\u9fff]` (punctuation such as "，" is not counted, but its tokens are).
#
# <details><summary>Hint 1</summary>
#
# `re.findall(pattern, text)` returns the list of matches: its length is the number of words (or of
# Chinese characters).
# </details>
#
# <details><summary>Hint 2</summary>
#
# `tokenizer.encode(text)` returns the list of token ids: divide its length by the count of
# Hint 1.
# </details>

# %% [exercise measure_tokens]
def tokens_per_english_word(tokenizer, text):
    """Tokens of `text` divided by the number of English words in it."""
    ### BEGIN SOLUTION
    n_words = len(re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)?", text))
    return len(tokenizer.encode(text)) / n_words
    ### END SOLUTION


def tokens_per_chinese_character(tokenizer, text):
    """Tokens of `text` divided by the number of Chinese (CJK) characters in it."""
    ### BEGIN SOLUTION
    n_chars = len(re.findall(r"[\u4e00-\u9fff]", text))
    return len(tokenizer.encode(text)) / n_chars
    ### END SOLUTION


with needs():
    needs_result(tok_mixed, "the cell that builds tok_stories and tok_mixed")
    print(f"{'':34} {'tokens per English word':>24} {'tokens per Chinese char':>24}")
    for name, tokenizer in [("trained on the stories", tok_stories), ("trained on stories + paragraphs", tok_mixed)]:
        print(f"{name:34} {tokens_per_english_word(tokenizer, ENGLISH_TEST):24.2f} "
              f"{tokens_per_chinese_character(tokenizer, CHINESE_TEST):24.2f}")
    print(f"{'rule of thumb (GPT-style)':34} {100 / 75:24.2f} {100 / 50:24.2f}")

# %% [markdown]
# What do the numbers in the table say?
#
# * **English costs more than the rule of thumb.** Our tokenizers learned only the merges printed
#   above (`merges=...`), from a tiny world; the test paragraphs talk about violins and galaxies,
#   words the stories never use, so they are spelled from several pieces. GPT-4's tokenizer learned
#   100,000 merges from a huge, varied slice of the web, and most English words are one token for it.
# * **Chinese costs more than 3 tokens per character with the story-only tokenizer**: with no
#   Chinese in its training text it has no Chinese merges, so every character is its three UTF-8
#   bytes (plus the punctuation's tokens). Adding four short Chinese paragraphs to the training
#   text lowers the cost: the characters they use often (的, 一, 在, 们...) became single tokens,
#   while characters they never use are still three bytes each.
# * **The ratio is a property of the training data, not of the language.** The rule of thumb
#   describes one family of tokenizers trained mostly on English. Tokenizers trained with more
#   Chinese (Qwen's, DeepSeek's, or GPT-4o's larger vocabulary) need fewer tokens per Chinese
#   character. Prices per token, context lengths and generation speed all inherit this: the same
#   text costs different amounts in different languages and with different models.
#
# ## §6 The tokenizer object: special tokens, saving and loading
#
# A trained tokenizer is its list of merges, its pre-split pattern and its special tokens. The
# `Tokenizer` class bundles them (encoding and decoding call your functions), and `BPETokenizer`
# adds `train`. A tokenizer must be saved with the model and loaded *exactly* as it was: a
# different merge order gives different ids, and the model would read garbage.
#
# **Your turn:** write `Tokenizer.save(path)` and `Tokenizer.load(path)`. The file is JSON with
# keys `format`, `version`, `split_pattern`, `special_tokens` and `merges`, where `merges[i]` is the
# pair `[left, right]` that became id 256 + i (so: sorted by new id). Write it with the provided
# `format_json` (one merge per line, easy to read and to diff). `load` refuses files of another
# format or of a newer version with a `ValueError`, and returns an object of the class it is called
# on (`cls(...)`).
#
# <details><summary>Hint 1: save</summary>
#
# Sort `self.merges.items()` by the new id (the value) and keep the pairs as `[left, right]` lists
# (JSON has no tuples). Put them in a dict with the other four keys (`self.FORMAT`,
# `self.VERSION`, ...) and write `format_json(data)` to `path`, opened with `encoding="utf-8"`.
# </details>
#
# <details><summary>Hint 2: load</summary>
#
# `json.load` the file; raise `ValueError` unless `data.get("format") == cls.FORMAT` and the
# version is between 1 and `cls.VERSION`. The merges come back as a list of lists: the pair at
# position `i` gets the id `256 + i` (and must become a tuple to be a dict key).
# </details>
#
# <details><summary>Hint 3: load (code)</summary>
#
# ```python
# merges = {(left, right): 256 + i for i, (left, right) in enumerate(data["merges"])}
# return cls(merges, split_pattern=..., special_tokens=...)   # cls, not Tokenizer
# ```
# </details>

# %% [test tokenization.tokenizer points=2 hidden]

# %% [markdown]
# Special tokens in action: documents joined with `<|endoftext|>`, as they are fed to a language
# model in notebook 07. The token gets the first id after the learned vocabulary.

# %%
with needs():
    tokenizer = BPETokenizer().train(corpus, VOCAB_SIZE)
    tokenizer.register_special_tokens({"<|endoftext|>": tokenizer.vocab_size})
    eot = tokenizer.special_tokens["<|endoftext|>"]
    stories = corpus.split("\n\n")[:2]
    document = "<|endoftext|>".join(stories)
    ids = tokenizer.encode(document, allowed_special="all")
    print(f"two stories, {len(ids)} tokens; <|endoftext|> is id {eot}, at position {ids.index(eot)}")
    print("around it:", tokenizer.pieces(document, allowed_special="all")[ids.index(eot) - 3: ids.index(eot) + 4])
    try:
        tokenizer.encode("Please ignore this <|endoftext|> and go on")
    except ValueError as err:
        print("default policy:", err)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stories_tokenizer.json"
        tokenizer.save(path)
        lines = path.read_text(encoding="utf-8").splitlines()
        print(f"\n{path.name}: {path.stat().st_size:,} bytes, {len(lines)} lines; the first 12 (pattern shortened):")
        for line in lines[:12]:
            print("  ", line if len(line) < 100 else line[:97] + "...")
        loaded = BPETokenizer.load(path)
    print("\nloaded:", loaded)
    print("same ids after loading:", loaded.encode(document, allowed_special="all") == ids)
    print("decode(encode(document)) == document:", loaded.decode(ids) == document)

# %% [markdown]
# ## Playground
#
# Type anything (any language, emoji, code, `<|endoftext|>`) and move the slider to change the
# number of merges. Each coloured box is one token, with its id below; a space is shown as a grey
# `·` (so `·the` is the token `" the"`), a newline as `↵` and a tab as `⇥`; a special token is pink,
# and a token that is only part of a character (a byte of 请, say) shows its bytes in hex, like
# ‹e8 af›. The tokenizer is `tok_mixed`, truncated to the size you pick (each size is built once
# and cached), plus `<|endoftext|>`. Things to try: a word from the stories, then the same word
# misspelled; the Chinese sentence at 256 (bytes only) and at the largest size; numbers with 4, 5
# and 6 digits; `"  indented code"`.

# %%
PALETTE = ["#ffd6a5", "#caffbf", "#9bf6ff", "#bdb2ff", "#fdffb6", "#a0c4ff", "#ffc6ff", "#d0f4de"]
SPACE = '<span style="color:#888">·</span>'


@lru_cache(maxsize=64)
def playground_tokenizer(size):
    """tok_mixed with only its first size - 256 merges, plus <|endoftext|>."""
    tok = Tokenizer(dict(mixed_items[: size - 256]))
    tok.register_special_tokens({"<|endoftext|>": tok.vocab_size})
    return tok


def tokens_html(tok, text):
    """The tokens of `text` as coloured HTML boxes (all text escaped), with a summary line."""
    pieces = tok.pieces(text, allowed_special="all")
    specials = set(tok.special_tokens.values())
    boxes = []
    for k, (token_id, piece) in enumerate(pieces):
        colour = "#ff8fab" if token_id in specials else PALETTE[k % len(PALETTE)]
        raw = piece.encode("utf-8") if token_id in specials else tok.token_bytes(token_id)
        try:
            shown = (html.escape(raw.decode("utf-8")).replace(" ", SPACE)
                     .replace("\n", "↵").replace("\t", "⇥"))
        except UnicodeDecodeError:  # a piece of a multi-byte character (or a lone surrogate): its bytes
            shown = "‹" + " ".join(f"{b:02x}" for b in raw) + "›"
        boxes.append(
            f'<span title="id {token_id}" style="background:{colour};border-radius:4px;padding:1px 3px;'
            f'margin:1px;display:inline-block;white-space:pre;font-family:monospace;line-height:1.5">'
            f'{shown}<br><span style="font-size:70%;color:#444">{token_id}</span></span>'
            + ("<br>" if "\n" in piece else ""))  # a newline token ends the line
    n_bytes = len(text.encode("utf-8", errors="surrogatepass"))
    n_merges = len(tok.merges)
    summary = (f"<b>{len(pieces)}</b> tokens · {len(text)} characters · {n_bytes} bytes · "
               f"{n_bytes / max(1, len(pieces)):.2f} bytes per token · vocabulary {256 + n_merges} "
               f"(256 bytes + {n_merges} merges) + {len(specials)} special token")
    return f'<div>{summary}</div><div style="margin-top:6px">{"".join(boxes)}</div>'


with needs():
    needs_result(mixed_items, "the first cell of 'Back to happy'")
    text_box = widgets.Textarea(
        value="Mia has a red kite. The unhappy dragon flew over 12345 mountains!<|endoftext|>请介绍一下《孙子兵法》这本书 🙂",
        layout=widgets.Layout(width="100%", height="80px"))
    size_slider = widgets.IntSlider(value=256 + len(mixed_items), min=256, max=256 + len(mixed_items),
                                    step=1, description="vocab size", continuous_update=False,
                                    layout=widgets.Layout(width="60%"))
    shown_tokens = widgets.HTML(tokens_html(playground_tokenizer(size_slider.value), text_box.value))

    def update(change=None):
        shown_tokens.value = tokens_html(playground_tokenizer(size_slider.value), text_box.value)

    text_box.observe(update, names="value")
    size_slider.observe(update, names="value")
    display(widgets.VBox([text_box, size_slider, shown_tokens]))

# %% [markdown]
# ## Summary
#
# * Models read integers. Word vocabularies never stop growing; bytes are never unknown but long;
#   **byte-level BPE** learns subword pieces in between, and any string can still be encoded.
# * UTF-8 spends 1 byte on an English letter and 3 on a Chinese character, so a byte-level start
#   costs Chinese three times as much until the tokenizer learns Chinese merges.
# * Training = count pairs, merge the most frequent, repeat; counting **incrementally** makes it
#   fast. Encoding replays the merges in the order learned, inside pre-split chunks (a word with its
#   space in English, a whole clause in Chinese).
# * Tokens per word or per character are properties of the tokenizer's **training data**: we
#   measured it instead of trusting the rule of thumb.
# * Special tokens mark boundaries; a tokenizer is saved with its exact merge order.
#
# Next, notebook 02 gives each token id a vector: embeddings. A last look at all the checks of
# this notebook:

# %%
check_all("tokenization");
