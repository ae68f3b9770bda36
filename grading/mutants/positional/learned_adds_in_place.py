"""LearnedPositionalEmbedding.forward adds the positions into x in place (x += ...), changing the caller's tensor."""

CAUGHT_BY = ["positional.learned_positions"]


def forward(self, x):
    seq_len = x.shape[-2]
    if seq_len > self.max_len or x.shape[-1] != self.d_model:
        raise ValueError("bad shape")
    x += self.weight[:seq_len]
    return x


LearnedPositionalEmbedding.forward = forward
