"""chat_template glues the answer to the assistant token with no space: "<|assistant|>near the lake<|end|>"."""

CAUGHT_BY = ["finetuning.chat_template"]


def chat_template(question, answer=None):
    prompt = f"{USER_TOKEN}{question.strip()}{ASSISTANT_TOKEN}"
    return prompt if answer is None else f"{prompt}{answer.strip()}{END_TOKEN}"
