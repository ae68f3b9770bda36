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
# | § | you write in `course_lib/tokenization.py` | what it does |
# |---|---|---|
# | 1 | `get_pair_counts` | count neighbouring pairs of token ids |
# | 2 | `merge_pair` | replace every occurrence of a pair by a new id |
# | 3 | `IncrementalPairCounts`, `train_bpe` | learn the merges from text, fast |
# | 4 | `encode_chunk`, `encode` | text → ids (special tokens included) |
# | 5 | `decode` | ids → text, for *every* string |
# | 6 | `Tokenizer.save`, `Tokenizer.load` | a readable, versioned tokenizer file |
#
# Along the way you will *measure* things with your own tokenizer: how fast a word vocabulary
# grows, how many bytes a Chinese character takes, how many tokens an English word and a Chinese
# character cost, and how compression improves with the vocabulary size. At the end, a playground
# shows any text you type as coloured tokens.
#
# **How to work.** Open `course_lib/tokenization.py` next to this notebook. Each section below
# explains one idea and names the function to write; its docstring says exactly what to return.
# Fill in the part marked `# YOUR CODE HERE`, save the file, and re-run the section's check cell:
# it prints ✓, or ✗ with what your code returned and what was expected. Thanks to `autoreload`
# (next cells) you never need to restart the kernel for that.

# %% [setup]
from course_lib.checks import check
from course_lib import device

print(device.describe())

# %% [markdown]
# The next cell switches on `autoreload`, so that the notebook always uses the latest version of
# your `course_lib/tokenization.py`, then imports what we need and loads the text we train on:
# the course corpus, short stories about a small made-up world that `course_lib.data` generates on
# your machine (no download). The same stories are used to train the models of notebooks 05–09.

# %%
%load_ext autoreload
%autoreload 2

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
CORPUS_SIZE = "small" if MODE == "quick" else "default"   # ~500 KB or ~3 MB of stories
corpus = data.corpus(split="train", size=CORPUS_SIZE)
val_corpus = data.corpus(split="val", size=CORPUS_SIZE)
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

if docs_words:
    half = len(docs_words) // 2
    first_half = set(docs_words[:half])
    unseen = sum(word not in first_half for word in docs_words[half:]) / (len(docs_words) - half)
    print(f"Python docs: {len(set(docs_words)):,} distinct words in {len(docs_words):,}; "
          f"{unseen:.1%} of the words of the second half never occur in the first half.")
print(f"Course stories: {len(set(story_words)):,} distinct words in {len(story_words):,}.")

# %% [markdown]
# The course stories stop at a few hundred distinct words: their world is small *on purpose*, so
# that a model trained on a laptop can learn it. Real English does not stop: each new page brings
# new words, and a word tokenizer trained on the first half of the Python docs would not know a
# few percent of the words of the second half. A GPT-sized word vocabulary would need millions of
# entries and would still meet unknown words.
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
# When a `counts` dict is given, add into it and return it: that is how training sums the counts
# of many pieces of text.

# %% [test tokenization.get_pair_counts points=1 hidden]

# %% [markdown]
# Your function on the bytes of the first story: the most frequent pairs are letters that often
# follow each other in English, and letters followed by a space (the ends of words).

# %%
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

# %% [test tokenization.merge_pair points=1 hidden]

# %% [markdown]
# With the two functions you can already run BPE by hand. Ten merges on one sentence: each step
# finds the most frequent pair, gives it the next id and merges it. Watch the sequence shrink and
# the tokens grow.

# %%
sentence = "the cat sat on the mat and the dog sat on the log"
ids = list(sentence.encode("utf-8"))
pieces = {i: bytes([i]) for i in range(256)}
print(f"start: {len(ids)} tokens")
for new_id in range(256, 266):
    counts = get_pair_counts(ids)
    pair = min(counts, key=lambda p: (-counts[p], p))        # most frequent; ties: smallest pair
    ids = merge_pair(ids, pair, new_id)
    pieces[new_id] = pieces[pair[0]] + pieces[pair[1]]
    shown = "|".join(pieces[i].decode("utf-8") for i in ids)
    print(f"merge {pieces[new_id].decode()!r:8} -> {new_id}: {len(ids):2} tokens  {shown}")

# %% [markdown]
# ## §3 Training
#
# ### The pre-split
#
# Run BPE on raw text, as we just did, and you get tokens like `"on the "` that glue words
# together (or `"dog."`, glued to punctuation), and the same word gets different tokens in
# different places. GPT-2
# introduced a fix: first cut the text into **chunks** with a regular expression (a word with its
# leading space, a number, punctuation, whitespace), and never merge across chunks. Here is the
# GPT-4 pattern (`GPT4_SPLIT_PATTERN`, written for Python's `re`) at work:

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
# compares your merges with a slow trainer that recounts everything after each step; the
# instructor's hidden check also times your trainer on 200 KB of text.

# %% [test tokenization.train_bpe points=3 hidden]

# %% [markdown]
# Now train on the course corpus. (A vocabulary size larger than what the text can use is fine:
# training stops when every chunk has become a single token.)

# %%
VOCAB_SIZE = 1024 if MODE == "quick" else 4096
started = time.perf_counter()
merges, vocab = train_bpe(corpus, VOCAB_SIZE, verbose=True)
print(f"learned {len(merges)} merges from {len(corpus):,} characters in {time.perf_counter() - started:.2f} s")
print("first 24 merges:", [vocab[i].decode("utf-8", "replace") for i in range(256, 280)])
longest = sorted(vocab.values(), key=len, reverse=True)[:12]
print("longest tokens: ", [token.decode("utf-8", "replace") for token in longest])

# %% [markdown]
# The first merges are the most frequent pieces of English (`"he"`, `" t"`, `" the"`...); the last
# ones are whole words and names of the story world.
#
# **Back to *happy*.** Does the tokenizer find the pieces that *happy*, *unhappy* and *happiness*
# share? The story corpus has *happy* but none of its relatives, so we add our English and Chinese
# paragraphs to the training text and look at the family with the first *k* merges, for several
# *k*. (Training is greedy, so the first *k* merges of a long training run are exactly what a
# run with a vocabulary of 256 + *k* would learn: we can train once and truncate.)

# %%
mixed_text = corpus + "\n\n" + ENGLISH_TRAIN + "\n\n" + CHINESE_TRAIN
mixed_merges, mixed_vocab = train_bpe(mixed_text, VOCAB_SIZE * 2)
mixed_items = list(mixed_merges.items())           # in the order learned
family = [" happy", " unhappy", " happiness", " happily", " kind", " unkind", " kindness"]
sizes = sorted({min(len(mixed_items), k) for k in (500, 900, 1100, 1300, 1500, 1900)})
for k in sizes:
    prefix = dict(mixed_items[:k])
    split = ["|".join(mixed_vocab[i].decode("utf-8", "replace") for i in encode(word, prefix)) for word in family]
    print(f"{256 + k:5} tokens: " + "  ".join(f"{s:>14}" for s in split))

# %% [markdown]
# Read the table from top to bottom. With few merges, the relatives are spelled from small pieces
# they share (`"ha"`, `"pp"`...); with more merges, longer shared pieces appear and are reused
# across the family (in our run: `" happ"` + `"iness"`, `" happ"` + `"ily"`, `" kind"` +
# `"ness"`); with many merges, every word that occurs often enough in the training text becomes a
# single token. A
# tokenizer trained on billions of words keeps very frequent words whole and builds rarer relatives
# from shared pieces, so a model that has learned what `" happ"` tends to mean can use it in words
# it rarely saw. (BPE only counts; the pieces follow frequency, not grammar, so they match
# *un-* or *-ness* only when the statistics say so.)
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

# %% [test tokenization.encode points=3 hidden]

# %%
sample = "Mia has a red kite. The unhappy dragon flew over 12345 mountains!"
ids = encode(sample, merges)
print(f"{len(sample)} characters, {len(sample.encode())} bytes -> {len(ids)} tokens")
print(ids)
print("|".join(vocab[i].decode("utf-8", "replace") for i in ids))
print('" Mia" ->', encode(" Mia", merges), '   "Mia" ->', encode("Mia", merges))

# %% [markdown]
# Words of the story world are single tokens; *dragon* and *mountains* never occur in the stories
# and are spelled from pieces, and so are the digits, which the stories hardly use. Look at *Mia*
# too: in the stories a name nearly always follows a space, and `" Mia"` and `"Mia"` are different
# chunks, hence different tokens. A model must learn separately that both are the same name.
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


n_points = 8 if MODE == "quick" else 14
eval_texts = {"new course stories": val_corpus[:50_000], "English paragraphs": ENGLISH_TEST,
              "Chinese paragraphs": CHINESE_TEST}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for ax, (title, items) in zip(axes, [("trained on the stories", list(merges.items())),
                                     ("trained on stories + our paragraphs", mixed_items)]):
    sizes = sorted({256 + round(i * len(items) / (n_points - 1)) for i in range(n_points)})
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
# On stories like the training text, compression climbs to several bytes per token. On other
# English it climbs much less: the merges fit the story world. On the left, Chinese stays at
# exactly one byte per token: that tokenizer has never seen a Chinese character, so it falls back
# to bytes. On the right, Chinese improves only at the end: merges are learned in order of
# frequency, and four short paragraphs are rare next to the stories, so their pieces come last
# (and only the characters they contain get merges). A tokenizer compresses what it was trained
# on, which is why the training mix of a real tokenizer is chosen as carefully as its size.
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
#   file names) that strict UTF-8 refuses. `text_to_bytes` and `bytes_to_text`, provided in the
#   module, keep such strings intact, so that `decode(encode(s)) == s` holds for **every** `str`.
#
# **Your turn:** write `decode(ids, vocab, special_tokens=None)` with `bytes_to_text`, and raise a
# `ValueError` naming any id that is neither in the vocabulary nor a special token.

# %% [test tokenization.decode points=2 hidden]

# %%
for text in ["hello world", "请介绍一下《孙子兵法》这本书", "emoji 🙂👍🏽 👩‍👩‍👧", "café vs cafe\u0301", "lone \ud800 surrogate", ""]:
    ids = encode(text, merges)
    back = decode(ids, vocab)
    print(f"{'✓' if back == text else '✗'} {len(ids):3} tokens  {text!r}")
ni = list("你".encode("utf-8"))
print(f"\nthe three bytes of 你 {ni}: together -> {decode(ni, vocab)!r}, one by one -> "
      f"{[decode([b], vocab) for b in ni]}")

# %% [markdown]
# ## Measuring: tokens per English word and per Chinese character
#
# A common rule of thumb for GPT-style tokenizers says **100 tokens ≈ 75 English words ≈ 50
# Chinese characters**, that is about 1.33 tokens per English word and 2 tokens per Chinese
# character. Let us measure what *your* tokenizers cost, on the held-out test paragraphs.
#
# We have two tokenizers: `tok_stories`, trained on the course stories only (§3), and `tok_mixed`,
# trained on the stories plus our English and Chinese training paragraphs.

# %%
tok_stories = Tokenizer(merges)
tok_mixed = Tokenizer(mixed_merges)
print(tok_stories, tok_mixed, sep="\n")

# %% [markdown]
# **Your turn (in the notebook):** complete the two functions. Count English words with a regular
# expression such as `[A-Za-z]+(?:'[A-Za-z]+)?`, and Chinese characters as the characters in the
# CJK range `[\u4e00-\u9fff]` (punctuation such as "，" is not counted, but its tokens are).

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


print(f"{'':34} {'tokens per English word':>24} {'tokens per Chinese char':>24}")
for name, tokenizer in [("trained on the stories", tok_stories), ("trained on stories + paragraphs", tok_mixed)]:
    print(f"{name:34} {tokens_per_english_word(tokenizer, ENGLISH_TEST):24.2f} "
          f"{tokens_per_chinese_character(tokenizer, CHINESE_TEST):24.2f}")
print(f"{'rule of thumb (GPT-style)':34} {100 / 75:24.2f} {100 / 50:24.2f}")

# %% [markdown]
# What do the numbers say? (When we ran it: about 2.5 and 2.2 tokens per English word, 3.3 and 2.1
# tokens per Chinese character.)
#
# * **English costs more than the rule of thumb.** Our tokenizers learned a few hundred to two thousand
#   merges from a tiny world; the test paragraphs talk about violins and galaxies, words the
#   stories never use, so they are spelled from several pieces. GPT-4's tokenizer learned 100,000
#   merges from a huge, varied slice of the web, and most English words are one token for it.
# * **Chinese costs more than 3 tokens per character with the story-only tokenizer**: with no
#   Chinese in its training text it has no Chinese merges, so every character is its three UTF-8
#   bytes (plus the punctuation's tokens). Adding four short Chinese paragraphs to the training
#   text brings the cost close to the rule of thumb: the characters they use often (的, 一, 在,
#   们...) became single tokens, while characters they never use are still three bytes each.
# * **The ratio is a property of the training data, not of the language.** The rule of thumb
#   describes one family of tokenizers trained mostly on English. Tokenizers trained with more
#   Chinese (Qwen's, DeepSeek's, or GPT-4o's larger vocabulary) need *fewer* than one token per
#   common character. Prices per token, context lengths and generation speed all inherit this:
#   the same text costs different amounts in different languages and with different models.
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
# `_format_json` (one merge per line, easy to read and to diff). `load` refuses files of another
# format or of a newer version with a `ValueError`, and returns an object of the class it is called
# on (`cls(...)`).

# %% [test tokenization.tokenizer points=2 hidden]

# %% [markdown]
# Special tokens in action: documents joined with `<|endoftext|>`, as they are fed to a language
# model in notebook 07. The token gets the first id after the learned vocabulary.

# %%
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
# vocabulary size. Each coloured box is one token, with its id below; a special token is pink, and
# a token that is only part of a character (a byte of 请, say) shows its bytes in hex, like ‹e8 af›. The
# tokenizer is `tok_mixed`, truncated to the size you pick (each size is built once and cached).
# Things to try: a word from the stories, then the same word misspelled; the Chinese sentence at
# 256 tokens and at the largest size; numbers with 4, 5 and 6 digits; `"  indented code"`.

# %%
PALETTE = ["#ffd6a5", "#caffbf", "#9bf6ff", "#bdb2ff", "#fdffb6", "#a0c4ff", "#ffc6ff", "#d0f4de"]


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
            shown = html.escape(raw.decode("utf-8")).replace("\n", "↵").replace("\t", "⇥")
        except UnicodeDecodeError:  # a piece of a multi-byte character (or a lone surrogate): its bytes
            shown = "‹" + " ".join(f"{b:02x}" for b in raw) + "›"
        boxes.append(
            f'<span title="id {token_id}" style="background:{colour};border-radius:4px;padding:1px 3px;'
            f'margin:1px;display:inline-block;white-space:pre;font-family:monospace;line-height:1.5">'
            f'{shown}<br><span style="font-size:70%;color:#444">{token_id}</span></span>'
            + ("<br>" if "\n" in piece else ""))  # a newline token ends the line
    n_bytes = len(text.encode("utf-8", errors="surrogatepass"))
    summary = (f"<b>{len(pieces)}</b> tokens · {len(text)} characters · {n_bytes} bytes · "
               f"{n_bytes / max(1, len(pieces)):.2f} bytes per token · vocabulary {tok.vocab_size}")
    return f'<div>{summary}</div><div style="margin-top:6px">{"".join(boxes)}</div>'


text_box = widgets.Textarea(
    value="Mia has a red kite. The unhappy dragon flew over 12345 mountains!<|endoftext|>请介绍一下《孙子兵法》这本书 🙂",
    layout=widgets.Layout(width="100%", height="80px"))
size_slider = widgets.IntSlider(value=256 + len(mixed_items), min=256, max=256 + len(mixed_items),
                                step=1, description="vocab size", continuous_update=False,
                                layout=widgets.Layout(width="60%"))
shown_tokens = widgets.HTML()


def update(change=None):
    shown_tokens.value = tokens_html(playground_tokenizer(size_slider.value), text_box.value)


text_box.observe(update, names="value")
size_slider.observe(update, names="value")
update()
display(widgets.VBox([text_box, size_slider, shown_tokens]))

# %% [markdown]
# ## Summary
#
# * Models read integers. Word vocabularies never stop growing; bytes are never unknown but long;
#   **byte-level BPE** learns subword pieces in between, and any string can still be encoded.
# * UTF-8 spends 1 byte on an English letter and 3 on a Chinese character, so a byte-level start
#   costs Chinese three times as much until the tokenizer learns Chinese merges.
# * Training = count pairs, merge the most frequent, repeat; counting **incrementally** makes it
#   fast. Encoding replays the merges in the order learned, inside pre-split chunks.
# * Tokens per word or per character are properties of the tokenizer's **training data**: we
#   measured it instead of trusting the rule of thumb.
# * Special tokens mark boundaries; a tokenizer is saved with its exact merge order.
#
# Next, notebook 02 gives each token id a vector: embeddings. A last look at all the checks of
# this notebook:

# %%
check_all("tokenization");
