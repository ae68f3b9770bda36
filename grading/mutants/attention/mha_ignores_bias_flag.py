"""MultiHeadAttention.__init__ always creates biases, whatever `bias` says."""

CAUGHT_BY = ["attention.multi_head"]


def __init__(self, d_model, n_heads, *, bias=True, dropout=0.0):
    nn.Module.__init__(self)
    self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
    self.dropout, self.use_fast_path = dropout, True
    self.q_proj = nn.Linear(d_model, d_model)
    self.k_proj = nn.Linear(d_model, d_model)
    self.v_proj = nn.Linear(d_model, d_model)
    self.out_proj = nn.Linear(d_model, d_model)


MultiHeadAttention.__init__ = __init__
