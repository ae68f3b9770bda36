"""mlm_corrupt replaces every chosen position by [MASK] (no random tokens, none kept)."""

CAUGHT_BY = ["encoder.mlm_corrupt"]


def mlm_corrupt(ids, mask_id, vocab_size, *, generator=None, mask_prob=0.15, special_ids=()):
    ids = ids.long()
    chosen = uniform_like(ids, generator) < mask_prob
    if len(special_ids) > 0:
        chosen &= ~torch.isin(ids, torch.as_tensor(list(special_ids), device=ids.device))
    corrupted = torch.where(chosen, torch.full_like(ids, mask_id), ids)
    return corrupted, torch.where(chosen, ids, torch.full_like(ids, -100))
