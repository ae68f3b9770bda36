"""MultiHeadAttention.__init__ reuses one nn.Linear for the queries and the keys (self.k_proj = self.q_proj)."""

CAUGHT_BY = ["attention.multi_head"]


def __init__(self, d_model, n_heads, *, bias=True, dropout=0.0):
    nn.Module.__init__(self)
    self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
    self.dropout, self.use_fast_path = dropout, True
    self.q_proj = nn.Linear(d_model, d_model, bias=bias)
    self.k_proj = self.q_proj
    self.v_proj = nn.Linear(d_model, d_model, bias=bias)
    self.out_proj = nn.Linear(d_model, d_model, bias=bias)


MultiHeadAttention.__init__ = __init__
