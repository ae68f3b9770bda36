"""Notebook 08's reference on the course GPT itself (the checks use a toy model): LoRA wraps the
GPT's attention projections and leaves its outputs unchanged at first, merging gives the same
outputs, `merge_and_unload` gives back a plain GPT, and a few SFT steps lower the answer loss."""

from __future__ import annotations

import copy

import pytest
import torch

finetuning = pytest.importorskip("course_lib.finetuning")
decoder = pytest.importorskip("course_lib.decoder")
from course_lib.tokenization import Tokenizer  # noqa: E402

SPECIALS = ["<|endoftext|>", "<|pad|>", "<|user|>", "<|assistant|>", "<|end|>"]


def _tiny_gpt_and_tokenizer(seed: int = 0):
    tokenizer = Tokenizer(special_tokens={name: 256 + i for i, name in enumerate(SPECIALS)})  # bytes + specials
    torch.manual_seed(seed)
    config = decoder.GPTConfig(vocab_size=tokenizer.vocab_size, block_size=96, n_layer=2, n_head=2, d_model=32)
    return decoder.GPT(config), tokenizer


def test_lora_on_the_gpt_starts_identical_and_merges_back():
    model, _ = _tiny_gpt_and_tokenizer()
    model.eval()
    idx = torch.randint(0, 256, (2, 12))
    with torch.no_grad():
        before = model(idx)
    lora = copy.deepcopy(model)
    names = finetuning.inject_lora(lora, r=4, alpha=8)
    assert names == [f"blocks.{i}.attn.{p}" for i in range(2) for p in finetuning.LORA_TARGETS]
    trainable, total = finetuning.count_parameters(lora)
    assert trainable == 2 * 4 * 4 * (32 + 32)  # 2 blocks x 4 projections x r * (in + out)
    assert total == sum(p.numel() for p in model.parameters()) + trainable
    with torch.no_grad():
        assert torch.equal(lora(idx), before)                   # B = 0: the same model
        for _, layer in finetuning.lora_modules(lora):
            layer.lora_B.normal_(std=0.1)
        changed = lora(idx)
        assert not torch.allclose(changed, before)
        finetuning.merge_lora(lora)
        assert torch.allclose(lora(idx), changed, atol=1e-5)
        finetuning.unmerge_lora(lora)
        assert torch.allclose(lora(idx), changed, atol=1e-5)
        finetuning.merge_and_unload(lora)
        assert finetuning.lora_modules(lora) == []
        assert set(lora.state_dict()) == set(model.state_dict())
        assert torch.allclose(lora(idx), changed, atol=1e-5)


@pytest.mark.parametrize("lora", [False, True])
def test_a_few_sft_steps_lower_the_answer_loss(lora):
    model, tokenizer = _tiny_gpt_and_tokenizer(1)
    pairs = [("Where does Mia live?", "near the lake"), ("What colour is Tom's kite?", "red"),
             ("Who is Sam's best friend?", "Zoe")]
    examples = [finetuning.build_sft_example(tokenizer, q, a) for q, a in pairs]
    pad = tokenizer.special_tokens[finetuning.PAD_TOKEN]
    batch = finetuning.pad_collate(examples, pad)
    if lora:
        finetuning.inject_lora(model, r=4, alpha=8)
    with torch.no_grad():
        before = float(finetuning.sft_loss(model(batch["input_ids"]), batch["labels"]))
    config = finetuning.SFTConfig(steps=40, batch_size=3, lr=1e-1 if lora else 1e-2, warmup=2)
    history = finetuning.train_sft(model, examples, pad, config, progress=False)
    assert len(history.losses) == 40
    assert (history.trainable < history.total) == lora
    model.eval()
    with torch.no_grad():
        after = float(finetuning.sft_loss(model(batch["input_ids"]), batch["labels"]))
    # LoRA on a random model's attention can only move the logits a little; full fine-tuning a lot
    assert after < (before - 0.1 if lora else 0.7 * before), (before, after)
    # the answer comes out and stops at <|end|>
    text = finetuning.continue_text(model, tokenizer, finetuning.chat_template(pairs[1][0]), 8)
    assert "<|" not in text


def test_classify_continuation():
    classify = finetuning.classify_continuation
    assert classify(" Who is Mia's best friend? Where does Tom live?") == "question"
    assert classify(" near the lake") == "answer"
    assert classify(" Mia had a red kite. She liked it very much.") == "story"
    assert classify("  ") == "nothing"
    assert classify("<|endoftext|>Once upon a time, there was a girl named Kate.") == "story"
    assert classify("<|endoftext|><|endoftext|>") == "nothing"
    assert classify(" What colour is Mia's kite?<|endoftext|>Once upon a time") == "question"


def test_continue_text_can_write_past_the_end_of_a_text():
    """A base model ends a document and starts another; with both stops off, continue_text shows it."""
    _, tokenizer = _tiny_gpt_and_tokenizer(1)
    eot = tokenizer.special_tokens["<|endoftext|>"]

    class AlwaysEndOfText(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(1))

        def forward(self, idx):                        # (B, T) -> (B, T, vocab): <|endoftext|> wins
            logits = torch.zeros(*idx.shape, tokenizer.vocab_size)
            logits[..., eot] = 1.0
            return logits

    model = AlwaysEndOfText()
    assert finetuning.continue_text(model, tokenizer, "Where does Mia live?", 3) == ""
    written = finetuning.continue_text(model, tokenizer, "Where does Mia live?", 3, stop_at_end=False,
                                       stop_at_endoftext=False)
    assert written == "<|endoftext|>" * 3
    assert finetuning.classify_continuation(written) == "nothing"
