"""padding_mask uses <= : position lengths[b] (the first pad) counts as a real token."""

CAUGHT_BY = ["attention.masks"]


def padding_mask(lengths, max_len=None):
    lengths = torch.as_tensor(lengths)
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] <= lengths[:, None]
