"""build_sft_example masks one token too few: the <|assistant|> token gets a label and counts in the loss."""

CAUGHT_BY = ["finetuning.sft_example"]


def build_sft_example(tokenizer, question, answer):
    ids = tokenizer.encode(chat_template(question, answer), allowed_special="all")
    n_prompt = len(tokenizer.encode(chat_template(question), allowed_special="all")) - 1
    return {"input_ids": ids, "labels": [IGNORE_INDEX] * n_prompt + ids[n_prompt:]}
