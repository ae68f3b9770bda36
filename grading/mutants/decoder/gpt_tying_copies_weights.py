"""GPT "ties" the head by copying the embedding into a new Parameter: two matrices, trained apart."""

CAUGHT_BY = ["decoder.gpt"]

_original_init = GPT.__init__


def _init(self, config):
    _original_init(self, config)
    if config.tie_weights:
        self.lm_head.weight = nn.Parameter(self.tok_emb.weight.detach().clone())


GPT.__init__ = _init
