"""get_batch draws from PyTorch's global generator and ignores the one passed in: runs cannot be repeated or resumed."""

CAUGHT_BY = ["training.get_batch"]


def get_batch(data, batch_size, block_size, *, generator=None, device=None):
    if data.dim() != 1 or len(data) <= block_size:
        raise ValueError("bad data")
    starts = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([data[s: s + block_size] for s in starts.tolist()])
    y = torch.stack([data[s + 1: s + 1 + block_size] for s in starts.tolist()])
    return x.long().to(device), y.long().to(device)
