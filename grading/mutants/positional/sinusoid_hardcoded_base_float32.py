"""sinusoidal_table ignores `base` (always 10000) and computes in float32 before converting."""

import math

CAUGHT_BY = ["positional.sinusoidal_table"]


def sinusoidal_table(max_len, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    position = torch.arange(max_len).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(position * div_term)
    table[:, 1::2] = torch.cos(position * div_term)
    return table.to(dtype=dtype, device=device)
