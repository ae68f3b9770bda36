"""mlm_corrupt ignores its generator and draws from PyTorch's global random state (not reproducible)."""

CAUGHT_BY = ["encoder.mlm_corrupt"]


def mlm_corrupt(ids, mask_id, vocab_size, *, generator=None, mask_prob=0.15, special_ids=()):
    ids = ids.long()
    chosen = torch.rand(ids.shape) < mask_prob
    if len(special_ids) > 0:
        chosen &= ~torch.isin(ids, torch.as_tensor(list(special_ids), device=ids.device))
    u = torch.rand(ids.shape)
    corrupted = torch.where(chosen & (u < 0.8), torch.full_like(ids, mask_id), ids)
    corrupted = torch.where(chosen & (u >= 0.8) & (u < 0.9), torch.randint(vocab_size, ids.shape), corrupted)
    return corrupted, torch.where(chosen, ids, torch.full_like(ids, -100))
