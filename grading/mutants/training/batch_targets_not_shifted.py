"""get_batch returns the window itself as the targets (y = x): the model learns to copy, not to predict."""

CAUGHT_BY = ["training.get_batch"]


def get_batch(data, batch_size, block_size, *, generator=None, device=None):
    if data.dim() != 1 or len(data) <= block_size:
        raise ValueError("bad data")
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[s: s + block_size] for s in starts.tolist()]).long().to(device)
    return x, x.clone()
