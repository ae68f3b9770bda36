"""The course GPT, handed from notebook 07 (pretraining) to notebooks 08 (fine-tuning) and 09 (RLHF).

Nothing to implement here: this module only saves, finds and, if need be, makes the model.

    save_stage("pretrained", model, tokenizer, extra={...})   # notebook 07, at the end
    model, tokenizer, info = course_gpt()                      # notebooks 08 and 09, at the start
    model, tokenizer, info = load_stage("sft")                 # notebook 09 (saved by 08)

A *stage* is a folder ``checkpoint_dir() / <stage>`` holding ``model.pt`` (the model's config and
weights), ``tokenizer.json`` (01's format) and ``info.json`` (how it was made and how good it is).

`course_gpt()` answers "which model do I start from?" and always says which one it used:

1. your own, stage ``"pretrained"``, saved by notebook 07;
2. else the course's reference model, cached as stage ``"reference-<mode>"`` by an earlier call;
3. else it trains that reference model now with :data:`RECIPES` (the recipe notebook 07 uses),
   with PyTorch's own optimizer, loss and clipping (so it works before notebook 07 is done),
   and caches it. It still needs your tokenizer (notebook 01) and your GPT (notebook 06).

The course tokenizer is 01's byte-level BPE trained on the course corpus, with the special
tokens :data:`SPECIAL_TOKENS` registered from the start (so that notebook 08's chat template
needs no new embeddings).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import shutil
import time
from pathlib import Path

__all__ = ["SPECIAL_TOKENS", "Recipe", "RECIPES", "recipe", "checkpoint_dir", "course_tokenizer",
           "save_stage", "load_stage", "stage_info", "course_gpt", "train_reference_gpt"]

SPECIAL_TOKENS = ("<|endoftext|>", "<|pad|>", "<|user|>", "<|assistant|>", "<|end|>")
MODES = ("smoke", "quick", "full")


class EarlierWorkMissing(NotImplementedError):
    """The course GPT needs code of an earlier notebook that is not written yet (a notebook's
    `needs()` turns this into a ⏸ line naming the function)."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How the course GPT is made in one mode.

    Attributes:
        corpus_size: ``course_lib.data.corpus`` size (train split; validation is a tenth).
        vocab_size: the BPE vocabulary before special tokens (256 bytes + merges).
        model: keyword arguments of ``GPTConfig`` (vocab_size is added).
        train: keyword arguments of ``training.TrainConfig``.
        samples: texts sampled to measure grammar validity.
        minutes: rough time on its target machine (quick: a 2-core laptop CPU; full: one GPU).
    """

    corpus_size: str | int
    vocab_size: int
    model: dict
    train: dict
    samples: int
    minutes: float


RECIPES: dict[str, Recipe] = {
    "smoke": Recipe(corpus_size="tiny", vocab_size=320,
                    model=dict(block_size=32, n_layer=1, n_head=2, d_model=32),
                    train=dict(max_steps=30, batch_size=8, block_size=32, max_lr=3e-3, min_lr=3e-4, warmup_steps=5,
                               eval_interval=10, eval_iters=2),
                    samples=4, minutes=0.05),
    # Measured on a loaded 2-core CPU, 1 thread (issue 9): 2 layers beat 4 at equal time (twice the
    # tokens, the same loss per token); 1,000 steps of 16 x 64 tokens take about 2.5 minutes.
    "quick": Recipe(corpus_size="default", vocab_size=1024,
                    model=dict(block_size=64, n_layer=2, n_head=4, d_model=128),
                    train=dict(max_steps=1000, batch_size=16, block_size=64, max_lr=3e-3, min_lr=3e-4,
                               warmup_steps=30, eval_interval=100, eval_iters=10),
                    samples=48, minutes=2.5),
    # For one GPU (not measured by the author: no GPU was available); bf16 autocast and compile.
    "full": Recipe(corpus_size="large", vocab_size=1024,
                   model=dict(block_size=256, n_layer=6, n_head=6, d_model=384),
                   train=dict(max_steps=2000, batch_size=64, block_size=256, max_lr=1e-3, min_lr=1e-4,
                              warmup_steps=100, eval_interval=200, eval_iters=20, compile=True),
                   samples=128, minutes=5.0),
}


def recipe(mode: str | None = None) -> Recipe:
    """The recipe for `mode` (default: ``course_lib.device.run_mode()``)."""
    if mode is None:
        from course_lib import device

        mode = device.run_mode()
    if mode not in RECIPES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return RECIPES[mode]


def checkpoint_dir() -> Path:
    """Where stages live: ``course_lib.data.cache_dir() / "checkpoints"`` ($COURSE_DATA_DIR moves it)."""
    from course_lib import data

    return data.cache_dir() / "checkpoints"


def course_tokenizer(text: str, vocab_size: int, *, tokenizer_class: type | None = None, verbose: bool = False):
    """01's BPE tokenizer trained on `text`, with :data:`SPECIAL_TOKENS` registered after the
    merges (ids ``len(vocab)``, ``len(vocab) + 1``, ...).

    Args:
        text: the training text (the course corpus).
        vocab_size: 256 + the number of merges.
        tokenizer_class: default ``course_lib.tokenization.BPETokenizer`` (yours).
    """
    if tokenizer_class is None:
        from course_lib.tokenization import BPETokenizer as tokenizer_class
    tokenizer = tokenizer_class().train(text, vocab_size, verbose=verbose)
    first = len(tokenizer.vocab)
    tokenizer.register_special_tokens({name: first + i for i, name in enumerate(SPECIAL_TOKENS)})
    return tokenizer


# ---------------------------------------------------------------------------------------------
# Stages: save and load
# ---------------------------------------------------------------------------------------------

def _stage_path(stage: str) -> Path:
    if not stage or "/" in stage or "\\" in stage or stage.startswith("."):
        raise ValueError(f"a stage is a simple name such as 'pretrained' or 'sft', got {stage!r}")
    return checkpoint_dir() / stage


def save_stage(stage: str, model, tokenizer, *, extra: dict | None = None) -> Path:
    """Save a model and its tokenizer as `stage`; a stage of that name is replaced.

    Args:
        stage: e.g. "pretrained" (notebook 07), "sft" (notebook 08).
        model: a ``course_lib.decoder.GPT`` (anything with a dataclass ``config`` and a
            ``state_dict``); saved from the CPU, so it loads anywhere.
        tokenizer: its tokenizer (saved with its own ``save``).
        extra: JSON-friendly facts to keep with it (validity, losses, steps, mode...).

    Returns:
        The stage's folder.
    """
    import torch

    config = getattr(model, "config", None)
    if config is None or not dataclasses.is_dataclass(config):
        raise TypeError(f"save_stage needs a model with a dataclass `config` (a GPT), got {type(model).__name__}")
    final = _stage_path(stage)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{stage}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save({"config": dataclasses.asdict(config), "state_dict": state}, tmp / "model.pt")
        tokenizer.save(tmp / "tokenizer.json")
        info = {"stage": stage, "saved_at": datetime.datetime.now().isoformat(timespec="seconds"),
                "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
                "config": dataclasses.asdict(config),
                "parameters": sum(p.numel() for p in model.parameters()),
                **(extra or {})}
        (tmp / "info.json").write_text(json.dumps(info, indent=1, default=str) + "\n", encoding="utf-8")
        old = final.with_name(f".{stage}.old-{os.getpid()}")
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def stage_info(stage: str) -> dict | None:
    """The ``info.json`` of a saved stage, or None if there is no such stage."""
    path = _stage_path(stage) / "info.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def load_stage(stage: str, *, device=None, mode: str | None = None, verbose: bool = True):
    """Load a stage saved by :func:`save_stage`.

    The model is rebuilt with YOUR ``course_lib.decoder.GPT`` (notebook 06) from the saved
    config, and the tokenizer with your ``course_lib.tokenization.Tokenizer.load`` (notebook 01).

    A stage saved by a smoke run (``info["mode"] == "smoke"``: a test that the notebook runs, not a
    trained model) is ignored in quick and full mode, with a printed line saying so: otherwise a
    30-step model would silently stand in for a real one.

    Args:
        stage: the stage's name.
        device: where to put the model (default: ``course_lib.device.get_device()``).
        mode: the mode of the caller (default: ``course_lib.device.run_mode()``).
        verbose: print why a smoke-run stage is ignored.

    Returns:
        ``(model, tokenizer, info)`` with the model in eval mode, or None if the stage is missing
        (or ignored).
    """
    import torch

    from course_lib.device import get_device

    folder = _stage_path(stage)
    if not (folder / "model.pt").exists() or not (folder / "tokenizer.json").exists():
        return None
    mode = mode or _default_mode()
    info = stage_info(stage) or {"stage": stage}
    if info.get("mode") == "smoke" and mode != "smoke":
        if verbose:
            print(f"Ignoring the stage {stage!r} in {folder}: a smoke run saved it (a quick test of the notebook, "
                  f"not a trained model), and this is {mode} mode. Run its notebook in {mode} mode to replace it.")
        return None
    from course_lib.decoder import GPT, GPTConfig
    from course_lib.tokenization import Tokenizer

    saved = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    fields = {f.name for f in dataclasses.fields(GPTConfig)}
    model = GPT(GPTConfig(**{k: v for k, v in saved["config"].items() if k in fields}))
    missing, unexpected = model.load_state_dict(saved["state_dict"], strict=False)
    if missing or unexpected:
        raise RuntimeError(
            f"stage {stage!r} ({folder}) does not fit your course_lib.decoder.GPT: missing parameters "
            f"{list(missing)[:5]}, unexpected {list(unexpected)[:5]}. Keep the attribute names of notebook 06 "
            "(tok_emb, pos_emb, blocks[i].attn.q_proj, ..., norm, lm_head), or train again.")
    model.to(get_device() if device is None else device).eval()
    tokenizer = Tokenizer.load(folder / "tokenizer.json")
    info["path"] = str(folder)
    return model, tokenizer, info


# ---------------------------------------------------------------------------------------------
# The reference recipe, with PyTorch's own training parts
# ---------------------------------------------------------------------------------------------

def _describe(info: dict) -> str:
    bits = [f"saved {info.get('saved_at', '?')}"]
    if "mode" in info:
        bits.append(f"{info['mode']} mode")
    if "val_loss" in info:
        bits.append(f"val loss {info['val_loss']:.3f}")
    if "valid_fraction" in info:
        bits.append(f"{100 * info['valid_fraction']:.1f}% valid sentences")
    return ", ".join(bits)


def train_reference_gpt(mode: str | None = None, *, device=None, verbose: bool = True, seed: int = 0):
    """Train the course GPT with the course recipe (:data:`RECIPES`), using PyTorch's AdamW,
    ``F.cross_entropy``, ``clip_grad_norm_`` and ``OneCycleLR`` instead of notebook 07's parts.

    Batches are consecutive windows of the token stream, visited in a new random order each
    epoch (every token is seen once per epoch). Needs your tokenizer and your GPT.

    Returns:
        ``(model, tokenizer, info)``.
    """
    import torch
    import torch.nn.functional as F

    from course_lib import data, training
    from course_lib.decoder import GPT, GPTConfig
    from course_lib.device import get_device

    mode = mode or _default_mode()
    rec = recipe(mode)
    device = torch.device(get_device() if device is None else device)
    started = time.perf_counter()
    train_text, val_text = data.corpus("train", rec.corpus_size), data.corpus("val", rec.corpus_size)
    tokenizer = course_tokenizer(train_text, rec.vocab_size)
    train_ids = training.encode_corpus(tokenizer, train_text).long()
    val_ids = training.encode_corpus(tokenizer, val_text).long()
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, **rec.model)).to(device)
    cfg = training.TrainConfig(**rec.train)
    if device.type == "cpu":
        training.configure_threads(verbose=verbose)
    optimizer = training.make_optimizer(model, dataclasses.replace(cfg, optimizer="torch"))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.max_lr, total_steps=cfg.max_steps, pct_start=max(cfg.warmup_steps, 1) / cfg.max_steps,
        anneal_strategy="cos", cycle_momentum=False, div_factor=100.0, final_div_factor=cfg.max_lr / cfg.min_lr / 100.0)
    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    length = cfg.block_size + 1
    n_windows = (len(train_ids) - 1) // cfg.block_size
    offsets = torch.arange(length)
    rng = torch.Generator().manual_seed(seed)
    order = torch.empty(0, dtype=torch.long)

    def loss_of(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(x)
        return F.cross_entropy(logits.float().flatten(0, 1), y.flatten())

    model.train()
    bar = None
    if verbose:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.max_steps, desc=f"reference GPT ({mode})", unit="step")
    for _ in range(cfg.max_steps):
        if len(order) < cfg.batch_size:   # a new epoch: every window once, in a new order
            order = torch.randperm(n_windows, generator=rng)
        picked, order = order[:cfg.batch_size], order[cfg.batch_size:]
        rows = train_ids[picked[:, None] * cfg.block_size + offsets]          # (batch, block + 1)
        rows = rows.to(device)
        loss = loss_of(rows[:, :-1], rows[:, 1:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or math.inf)
        optimizer.step()
        scheduler.step()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    model.eval()
    with torch.no_grad():
        n_val = min(len(val_ids) - 1, 64 * cfg.block_size) // cfg.block_size * cfg.block_size
        val_rows = val_ids[: n_val + 1]
        x = val_rows[:-1].view(-1, cfg.block_size).to(device)
        y = val_rows[1:].view(-1, cfg.block_size).to(device)
        val_loss = float(loss_of(x, y))
    report, _ = training.grammar_validity(model, tokenizer, n=rec.samples, seed=seed)
    info = {"mode": mode, "trained_by": "course_lib.pretrained.train_reference_gpt", "steps": cfg.max_steps,
            "val_loss": val_loss, "valid_fraction": report.valid_fraction, "n_sentences": report.n_sentences,
            "seconds": round(time.perf_counter() - started, 1)}
    return model, tokenizer, info


def _default_mode() -> str:
    from course_lib import device

    return device.run_mode()


def course_gpt(*, device=None, mode: str | None = None, verbose: bool = True):
    """The pretrained course GPT for notebooks 08 and 09, and a line saying which one it is.

    In order: your stage "pretrained" (notebook 07); the cached reference model of this mode or
    a bigger one ("reference-quick", "reference-full"); else the reference model trained now
    (:func:`train_reference_gpt`, a few minutes in quick mode) and cached.

    Args:
        device: where to put the model (default ``get_device()``).
        mode: the recipe for a reference model (default ``run_mode()``).
        verbose: print which model is used.

    Returns:
        ``(model, tokenizer, info)``; ``info["source"]`` is "yours", "reference (cached)" or
        "reference (trained now)".
    """
    def say(message: str) -> None:
        if verbose:
            print(message)

    mode = mode or _default_mode()
    try:
        loaded = load_stage("pretrained", device=device, mode=mode, verbose=verbose)
    except NotImplementedError as err:
        raise EarlierWorkMissing(f"{err} (Your model from notebook 07 is saved, but loading it needs this "
                                 "code; or switch to the reference: course_lib.earlier.use_reference.)") from err
    if loaded is not None:
        model, tokenizer, info = loaded
        info["source"] = "yours"
        say(f"Using YOUR course GPT from notebook 07 ({_describe(info)}): {info['path']}")
        return model, tokenizer, info
    better = MODES[MODES.index(mode):] if mode in MODES else MODES
    for candidate in better:
        loaded = load_stage(f"reference-{candidate}", device=device, mode=mode, verbose=verbose)
        if loaded is not None:
            model, tokenizer, info = loaded
            info["source"] = "reference (cached)"
            say(f"Notebook 07's model is not saved yet, so this is the course's REFERENCE GPT "
                f"({_describe(info)}), cached in {info['path']}. Run notebook 07 to use your own.")
            return model, tokenizer, info
    say(f"Notebook 07's model is not saved yet and no reference GPT is cached: training the course's "
        f"reference GPT now ({mode} mode, about {recipe(mode).minutes:g} min on its target machine). "
        f"It is cached for next time in {checkpoint_dir()}.")
    try:
        model, tokenizer, info = train_reference_gpt(mode, device=device, verbose=verbose)
    except NotImplementedError as err:
        raise EarlierWorkMissing(
            f"{err} (Training the reference GPT needs your tokenizer, notebook 01, and your GPT, notebook 06; "
            "or switch to the reference: course_lib.earlier.use_reference.)") from err
    save_stage(f"reference-{mode}", model, tokenizer, extra=info)
    info = stage_info(f"reference-{mode}") or info
    info["source"] = "reference (trained now)"
    info["path"] = str(_stage_path(f"reference-{mode}"))
    say(f"Using the REFERENCE GPT just trained ({_describe(info)}).")
    return model, tokenizer, info
