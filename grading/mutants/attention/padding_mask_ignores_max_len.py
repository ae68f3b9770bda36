"""padding_mask always pads to the longest length, ignoring max_len."""

CAUGHT_BY = ["attention.masks"]


def padding_mask(lengths, max_len=None):
    lengths = torch.as_tensor(lengths)
    longest = int(lengths.max())
    return torch.arange(longest, device=lengths.device)[None, :] < lengths[:, None]
