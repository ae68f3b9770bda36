"""LearnedPositionalEmbedding.forward adds self.weight.data, so no gradient reaches the table."""

CAUGHT_BY = ["positional.learned_positions"]


def forward(self, x):
    seq_len = x.shape[-2]
    if seq_len > self.max_len or x.shape[-1] != self.d_model:
        raise ValueError("bad shape")
    return x + self.weight.data[:seq_len]


LearnedPositionalEmbedding.forward = forward
