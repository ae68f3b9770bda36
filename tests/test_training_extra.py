"""Notebook 07's training loop beyond the exercise checks: an interrupted run resumes bit for bit,
the loop gives the same result in 2 processes (torchrun, gloo) as in one with the same global batch,
and the hand-off to notebooks 08-09 (course_lib.pretrained) saves, finds and makes the course GPT.

These run on the package under test (the reference by default; see conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from course_lib.decoder import GPT, GPTConfig
from course_lib.training import TrainConfig, train

# DDP on 2 CPU processes vs 1 process, same global batch: the parameters may differ by rounding
# only (the gradient is averaged over the processes in another order, and Adam divides by the
# small square roots of the first steps). After 8 AdamW steps at lr 1e-2 the largest difference
# measured was 1.8e-5; a real mistake (no averaging, both processes on the same rows) is ~1e-2.
DDP_TOLERANCE = 5e-4


def tiny_gpt(seed: int = 0, dropout: float = 0.0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, d_model=32, dropout=dropout))


def tiny_data() -> tuple[torch.Tensor, torch.Tensor]:
    stream = torch.randint(50, (2000,), generator=torch.Generator().manual_seed(1))
    return stream[:1800], stream[1800:]


def test_resume_is_bit_identical(tmp_path):
    """A run stopped after 7 of 12 steps and resumed from its checkpoint in a fresh model ends with
    exactly the weights and losses of the run that never stopped (CPU, dropout on)."""
    train_ids, val_ids = tiny_data()
    config = TrainConfig(max_steps=12, batch_size=4, block_size=16, max_lr=1e-2, warmup_steps=3, eval_interval=4,
                         eval_iters=2, optimizer="torch")
    straight = tiny_gpt(dropout=0.1)
    straight_result = train(straight, train_ids, val_ids, config, progress=False)

    path = tmp_path / "run.pt"
    first = tiny_gpt(dropout=0.1)
    partial = train(first, train_ids, val_ids, config, checkpoint_path=path, stop_after=7, progress=False)
    assert partial.steps == 7 and path.exists()
    torch.manual_seed(999)                                    # as a new process would: other random state
    resumed = tiny_gpt(seed=5, dropout=0.1)                   # ... and other initial weights
    resumed_result = train(resumed, train_ids, val_ids, config, checkpoint_path=path, resume=True, progress=False)

    assert resumed_result.steps == 12
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), f"{name} differs after resume"
    losses = lambda r: [(h["step"], h["train_loss"], h["val_loss"]) for h in r.history]  # noqa: E731
    assert losses(resumed_result) == losses(straight_result)


def test_resume_with_the_course_adamw(tmp_path):
    """The same with the learner's AdamW (config.optimizer = "course"): its state is in state_dict()."""
    train_ids, val_ids = tiny_data()
    config = TrainConfig(max_steps=6, batch_size=4, block_size=16, warmup_steps=2, eval_interval=3, eval_iters=1,
                         optimizer="course")
    straight = tiny_gpt()
    train(straight, train_ids, val_ids, config, progress=False)
    path = tmp_path / "run.pt"
    train(tiny_gpt(), train_ids, val_ids, config, checkpoint_path=path, stop_after=2, progress=False)
    resumed = tiny_gpt(seed=3)
    train(resumed, train_ids, val_ids, config, checkpoint_path=path, resume=True, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()))


DDP_SCRIPT = textwrap.dedent("""
    import os, sys, torch
    torch.set_num_threads(1)
    from course_lib.decoder import GPT, GPTConfig
    from course_lib.training import TrainConfig, train
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, d_model=32))
    stream = torch.randint(50, (2000,), generator=torch.Generator().manual_seed(1))
    config = TrainConfig(max_steps=8, batch_size=8, block_size=16, max_lr=1e-2, warmup_steps=2, eval_interval=4,
                         eval_iters=2)
    result = train(model, stream[:1800], stream[1800:], config, progress=False)
    if int(os.environ.get("RANK", "0")) == 0:
        torch.save({"state": model.state_dict(), "history": result.history,
                    "world": int(os.environ.get("WORLD_SIZE", "1"))}, sys.argv[1])
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist
        dist.barrier()
        dist.destroy_process_group()
""")


def _run(command: list[str], tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.environ.get("COURSE_TEST_IMPL_ROOT", ""),
               COURSE_DEVICE="cpu")
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"


@pytest.mark.skipif(not torch.distributed.is_available(), reason="this PyTorch has no torch.distributed")
def test_two_processes_match_one(tmp_path):
    """`train` under `torchrun --nproc_per_node 2` (gloo, CPU), each process taking half of every global
    batch of 8, ends with the parameters and losses of one process taking all 8 (within DDP_TOLERANCE)."""
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT, encoding="utf-8")
    _run([sys.executable, str(script), str(tmp_path / "one.pt")], tmp_path)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
          str(tmp_path / "two.pt")], tmp_path)
    one = torch.load(tmp_path / "one.pt", weights_only=True)
    two = torch.load(tmp_path / "two.pt", weights_only=True)
    assert one["world"] == 1 and two["world"] == 2
    worst = max(float((one["state"][k] - two["state"][k]).abs().max()) for k in one["state"])
    assert worst < DDP_TOLERANCE, f"2 processes differ from 1 by up to {worst:.2e}"
    print(f"largest parameter difference, 2 processes vs 1: {worst:.2e}")
    for a, b in zip(one["history"], two["history"]):
        assert a["step"] == b["step"]
        assert abs(a["val_loss"] - b["val_loss"]) < DDP_TOLERANCE
        assert abs(a["train_loss"] - b["train_loss"]) < DDP_TOLERANCE
    moved = max(float((one["state"][k] - tiny_gpt().state_dict()[k]).abs().max()) for k in one["state"])
    assert moved > 1e-3, "the model did not train at all: the comparison would prove nothing"


def test_stages_and_course_gpt(tmp_path, monkeypatch, capsys):
    """course_gpt() trains and caches a reference model when nothing is saved, then finds the cached
    one, then prefers the learner's stage "pretrained"; save_stage/load_stage round-trip the weights."""
    from course_lib import pretrained

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert pretrained.checkpoint_dir() == tmp_path / "checkpoints"
    assert pretrained.load_stage("pretrained") is None

    model, tokenizer, info = pretrained.course_gpt(mode="smoke", device="cpu")
    out = capsys.readouterr().out
    assert "training the course's reference GPT now" in out and info["source"] == "reference (trained now)"
    assert set(pretrained.SPECIAL_TOKENS) <= set(tokenizer.special_tokens)
    assert model.config.vocab_size == tokenizer.vocab_size

    again, _, info = pretrained.course_gpt(mode="smoke", device="cpu")
    assert "REFERENCE GPT" in capsys.readouterr().out and info["source"] == "reference (cached)"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))

    path = pretrained.save_stage("pretrained", model, tokenizer, extra={"mode": "smoke", "valid_fraction": 0.5})
    assert (path / "model.pt").exists() and (path / "tokenizer.json").exists()
    mine, mine_tokenizer, info = pretrained.course_gpt(mode="smoke", device="cpu")
    assert "YOUR course GPT" in capsys.readouterr().out and info["source"] == "yours"
    assert info["valid_fraction"] == 0.5
    assert mine_tokenizer.encode("Mia has a red kite.<|endoftext|>", allowed_special="all") == \
        tokenizer.encode("Mia has a red kite.<|endoftext|>", allowed_special="all")
    x = torch.tensor([[1, 2, 3]])
    assert torch.equal(mine.eval()(x), model.eval()(x))

    # A stage that a smoke run saved is a test, not a model: quick and full mode ignore it, and say so.
    assert pretrained.load_stage("pretrained", mode="quick") is None
    assert "Ignoring the stage 'pretrained'" in capsys.readouterr().out
    assert pretrained.load_stage("pretrained", mode="smoke") is not None
    pretrained.save_stage("pretrained", model, tokenizer, extra={"mode": "quick"})
    assert pretrained.load_stage("pretrained", mode="full") is not None
