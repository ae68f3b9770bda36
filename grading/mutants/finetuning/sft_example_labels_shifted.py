"""build_sft_example shifts the labels by one (labels[t] = ids[t + 1]); sft_loss shifts again: shifted twice."""

CAUGHT_BY = ["finetuning.sft_example"]


def build_sft_example(tokenizer, question, answer):
    ids = tokenizer.encode(chat_template(question, answer), allowed_special="all")
    n_prompt = len(tokenizer.encode(chat_template(question), allowed_special="all"))
    labels = [IGNORE_INDEX] * n_prompt + ids[n_prompt:]
    return {"input_ids": ids, "labels": labels[1:] + [IGNORE_INDEX]}
