"""build_sft_example copies the ids into the labels: the loss is computed over the prompt too."""

CAUGHT_BY = ["finetuning.sft_example"]


def build_sft_example(tokenizer, question, answer):
    ids = tokenizer.encode(chat_template(question, answer), allowed_special="all")
    return {"input_ids": ids, "labels": list(ids)}
