"""LearnedPositionalEmbedding stores its table as a plain tensor attribute, not an nn.Parameter."""

CAUGHT_BY = ["positional.learned_positions"]


class LearnedPositionalEmbedding(nn.Module):
    def __init__(self, max_len, d_model, init_std=0.02):
        super().__init__()
        self.max_len, self.d_model = max_len, d_model
        self.weight = torch.randn(max_len, d_model, requires_grad=True) * init_std

    def forward(self, x):
        if x.shape[-2] > self.max_len or x.shape[-1] != self.d_model:
            raise ValueError("bad shape")
        return x + self.weight[: x.shape[-2]]
