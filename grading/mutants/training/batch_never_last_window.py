"""get_batch draws starts below len(data) - block_size - 1, so the last window is never used (off by one)."""

CAUGHT_BY = ["training.get_batch"]


def get_batch(data, batch_size, block_size, *, generator=None, device=None):
    if data.dim() != 1 or len(data) <= block_size:
        raise ValueError("bad data")
    starts = torch.randint(max(1, len(data) - block_size - 1), (batch_size,), generator=generator)
    x = torch.stack([data[s: s + block_size] for s in starts.tolist()])
    y = torch.stack([data[s + 1: s + 1 + block_size] for s in starts.tolist()])
    return x.long().to(device), y.long().to(device)
