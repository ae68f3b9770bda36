"""chat_template keeps the whitespace around the question and the answer."""

CAUGHT_BY = ["finetuning.chat_template"]


def chat_template(question, answer=None):
    prompt = f"{USER_TOKEN}{question}{ASSISTANT_TOKEN}"
    return prompt if answer is None else f"{prompt} {answer}{END_TOKEN}"
