"""Train the course GPT on any text for a wall-clock budget; print validation loss against time.

    python benchmarks/bench_train.py --text input.txt --char --budget-s 90
    python benchmarks/bench_train.py --budget-s 60                  # the course corpus, BPE tokens
    python benchmarks/bench_train.py --text input.txt --char --recipe both   # ours, then nanoGPT's

The default model is the nanoGPT comparison configuration (its README's CPU command for
Shakespeare): 4 layers, 4 heads, 128 wide, block 64, batch 12, dropout 0, character level. Text: the
first 90% trains, the last 10% validates (as nanoGPT's prepare.py). Two training recipes:

* ``ours``: the course trainer (`course_lib.training.train`) with a learning rate of 2e-3 that
  warms up for 20 steps and then decays along a cosine that ends when the BUDGET ends (the
  schedule follows the clock), a measured CPU thread count, and few, cheap evaluations.
* ``nanogpt``: the same trainer set up as nanoGPT's ``train.py`` with that command: lr 1e-3 warmed
  up over 100 steps and decayed over 2000 steps (so a 90 s run stops in the middle of the
  decay), beta2 0.99, weight decay 0.1, clipping at 1, bias-free layers, an evaluation of 20
  batches every 250 steps. An emulation on the same machine, not nanoGPT's code.

Every line is one evaluation (the mean loss of `eval_iters` random validation batches); at the end
the loss over the WHOLE validation text (every token predicted once, windows of block_size) is
printed with the throughput. Numbers depend on the machine and on what else runs on it.

By default the reference package (``solutions/``) is measured; ``--impl student`` measures yours.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def load_tokens(args):
    """(train ids, val ids, vocabulary size, description) for the text and tokenization asked."""
    import torch

    from course_lib import data

    if args.text:
        text = data.read_text_file(args.text)
        source = f"{args.text} ({len(text):,} characters)"
    else:
        text = data.corpus("train", "small") + data.corpus("val", "small")
        source = f"the course corpus, size 'small' ({len(text):,} characters)"
    split = int(0.9 * len(text))
    if args.char:
        chars = sorted(set(text))
        index = {c: i for i, c in enumerate(chars)}
        ids = torch.tensor([index[c] for c in text], dtype=torch.int16 if len(chars) < 32768 else torch.int32)
        return ids[:split], ids[split:], len(chars), f"{source}, {len(chars)} distinct characters"
    from course_lib.pretrained import course_tokenizer

    tokenizer = course_tokenizer(text[:split], args.vocab)
    train_ids = torch.tensor(tokenizer.encode(text[:split], allowed_special="none"), dtype=torch.int32)
    val_ids = torch.tensor(tokenizer.encode(text[split:], allowed_special="none"), dtype=torch.int32)
    return train_ids, val_ids, tokenizer.vocab_size, f"{source}, BPE vocabulary {tokenizer.vocab_size}"


def run(recipe: str, args, train_ids, val_ids, vocab: int, device) -> dict:
    import torch

    from course_lib.decoder import GPT, GPTConfig
    from course_lib.training import TrainConfig, perplexity, train

    torch.manual_seed(args.seed)
    model = GPT(GPTConfig(vocab_size=vocab, block_size=args.block, n_layer=args.layers, n_head=args.heads,
                          d_model=args.width, dropout=0.0, bias=recipe != "nanogpt")).to(device)
    common = dict(batch_size=args.batch, block_size=args.block, weight_decay=0.1, betas=(0.9, 0.99),
                  grad_clip=1.0, seed=args.seed, time_budget_s=args.budget_s, compile=args.compile)
    if recipe == "nanogpt":
        config = TrainConfig(max_steps=2000, max_lr=1e-3, min_lr=1e-4, warmup_steps=100, eval_interval=250,
                             eval_iters=20, time_schedule=False, **common)
    else:
        config = TrainConfig(max_steps=100_000, max_lr=args.lr, min_lr=args.lr / 10, warmup_steps=20,
                             eval_interval=args.eval_interval, eval_iters=10, time_schedule=True, **common)
    print(f"\n== recipe {recipe!r}: {model.num_parameters():,} parameters; {config}")
    print(f"{'seconds':>8} {'step':>6} {'tokens':>10} {'lr':>9} {'train':>7} {'val':>7}")

    def show(record, history):
        print(f"{record['seconds']:>8.1f} {record['step']:>6} {record['tokens']:>10,} {record['lr']:>9.2e} "
              f"{record['train_loss']:>7.3f} {record['val_loss']:>7.3f}", flush=True)

    result = train(model, train_ids, val_ids, config, callback=show, progress=False)
    started = time.perf_counter()
    full_val = math.log(perplexity(model, val_ids, block_size=args.block, batch_size=64))
    print(f"-> {recipe}: {result.steps} steps in {result.seconds:.1f} s, {result.tokens_per_s:,.0f} tokens/s; "
          f"validation loss over all {len(val_ids) - 1:,} validation tokens: {full_val:.4f} "
          f"(measured in {time.perf_counter() - started:.1f} s, outside the budget)")
    return {"recipe": recipe, "steps": result.steps, "seconds": result.seconds, "tokens_per_s": result.tokens_per_s,
            "val_loss": full_val, "estimate": result.final["val_loss"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", help="a UTF-8 text file (default: the course corpus, size 'small')")
    parser.add_argument("--char", action="store_true", help="character-level tokens (default: the course BPE)")
    parser.add_argument("--vocab", type=int, default=1024, help="BPE vocabulary without --char (default 1024)")
    parser.add_argument("--budget-s", type=float, default=90.0, help="wall-clock seconds per run (default 90)")
    parser.add_argument("--recipe", choices=["ours", "nanogpt", "both"], default="ours")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--block", type=int, default=64)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of recipe 'ours' (default 2e-3)")
    parser.add_argument("--eval-interval", type=int, default=200, help="steps between evaluations (recipe 'ours')")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: measured)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: course_lib.device)")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--impl", choices=["reference", "student"], default="reference")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO / "solutions" if args.impl == "reference" else REPO))
    import torch

    from course_lib.decoder import GPT, GPTConfig
    from course_lib.device import get_device
    from course_lib.training import configure_threads

    device = get_device(args.device)
    train_ids, val_ids, vocab, description = load_tokens(args)
    print(f"text: {description}; {len(train_ids):,} train / {len(val_ids):,} val tokens; device {device}")
    if device.type == "cpu":
        probe_model = GPT(GPTConfig(vocab_size=vocab, block_size=args.block, n_layer=args.layers, n_head=args.heads,
                                    d_model=args.width))
        probe_opt = torch.optim.AdamW(probe_model.parameters(), lr=0.0, foreach=True)
        x = torch.randint(vocab, (args.batch, args.block))

        def one_step():
            loss = torch.nn.functional.cross_entropy(probe_model(x).flatten(0, 1), x.flatten())
            probe_opt.zero_grad()
            loss.backward()
            probe_opt.step()

        configure_threads(args.threads, step=one_step)
    recipes = ["ours", "nanogpt"] if args.recipe == "both" else [args.recipe]
    results = [run(r, args, train_ids, val_ids, vocab, device) for r in recipes]
    print(f"\n{'recipe':<8} {'steps':>6} {'tokens/s':>9} {'val (all tokens)':>17}   budget {args.budget_s:g} s")
    for r in results:
        print(f"{r['recipe']:<8} {r['steps']:>6} {r['tokens_per_s']:>9,.0f} {r['val_loss']:>17.4f}")


if __name__ == "__main__":
    main()
