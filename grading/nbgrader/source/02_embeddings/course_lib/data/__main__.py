"""`python -m course_lib.data [--size default] [--seed 0]`: statistics of the course world and
the grammar validity of simple baselines (the floor the trained models must beat)."""

from __future__ import annotations

import argparse
import time

from . import (
    SIZES,
    baseline_reports,
    cache_dir,
    corpus,
    corpus_statistics,
    grammar_report,
    qa_pairs,
    sentences,
    vocabulary,
)
from .world import World


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course_lib.data", description=__doc__)
    parser.add_argument("--size", default="default", choices=sorted(SIZES), help="corpus size (default: default)")
    parser.add_argument("--seed", type=int, default=0, help="world seed (default: 0)")
    parser.add_argument("--tokens", type=int, default=30_000, help="tokens sampled per baseline (default: 30000)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    world = World(args.seed)
    train, val = corpus("train", args.size, args.seed), corpus("val", args.size, args.seed)
    print(f"Course world: seed {args.seed}, size {args.size!r} (cache: {cache_dir()})")
    print(f"  world: {len(world.characters)} characters, {len(world.facts)} facts")
    for name, text in (("train", train), ("val", val)):
        s = corpus_statistics(text)
        print(f"  {name:<5}: {s['characters']:>10,} characters {s['bytes']:>10,} bytes {s['words']:>9,} words "
              f"{s['sentences']:>8,} sentences {s['stories']:>6,} stories")
    s = corpus_statistics(train)
    print(f"  vocabulary: {len(vocabulary())} words in the grammar, {s['distinct_words']} used in train, "
          f"{s['distinct_characters']} distinct characters")
    sample = " ".join(sentences(val)[:2000])
    print(f"  grammar check of the corpus (first 2,000 val sentences): "
          f"{100 * grammar_report(sample).valid_fraction:.1f}% valid")
    train_qa, test_qa = qa_pairs("train", args.seed), qa_pairs("test", args.seed)
    print(f"  QA: {len(train_qa)} train / {len(test_qa)} test pairs, "
          f"on {len({p.fact_id for p in train_qa})} / {len({p.fact_id for p in test_qa})} facts")
    print(f"Baselines (valid sentences among those sampled; {args.tokens:,} tokens each):")
    for name, report in baseline_reports(train, args.tokens, args.seed).items():
        print(f"  {name:<18} {100 * report.valid_fraction:6.2f}%  ({report.n_valid:,} of {report.n_sentences:,})")
    print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
