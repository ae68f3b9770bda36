"""get_batch returns the data's own dtype (int32 from encode_corpus) instead of int64."""

CAUGHT_BY = ["training.get_batch"]


def get_batch(data, batch_size, block_size, *, generator=None, device=None):
    if data.dim() != 1 or len(data) <= block_size:
        raise ValueError("bad data")
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[s: s + block_size] for s in starts.tolist()])
    y = torch.stack([data[s + 1: s + 1 + block_size] for s in starts.tolist()])
    return x.to(device), y.to(device)
