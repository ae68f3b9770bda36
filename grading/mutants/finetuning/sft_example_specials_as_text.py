"""build_sft_example encodes the template with allowed_special="none": "<|user|>" becomes ordinary characters."""

CAUGHT_BY = ["finetuning.sft_example"]


def build_sft_example(tokenizer, question, answer):
    ids = tokenizer.encode(chat_template(question, answer), allowed_special="none")
    n_prompt = len(tokenizer.encode(chat_template(question), allowed_special="none"))
    return {"input_ids": ids, "labels": [IGNORE_INDEX] * n_prompt + ids[n_prompt:]}
