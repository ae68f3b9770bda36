"""mlm_corrupt keeps 80% of the chosen tokens and masks only 10% (the 80/10/10 split read backwards)."""

CAUGHT_BY = ["encoder.mlm_corrupt"]


def mlm_corrupt(ids, mask_id, vocab_size, *, generator=None, mask_prob=0.15, special_ids=()):
    ids = ids.long()
    chosen = uniform_like(ids, generator) < mask_prob
    if len(special_ids) > 0:
        chosen &= ~torch.isin(ids, torch.as_tensor(list(special_ids), device=ids.device))
    u = uniform_like(ids, generator)
    corrupted = torch.where(chosen & (u < 0.1), torch.full_like(ids, mask_id), ids)
    corrupted = torch.where(chosen & (u >= 0.1) & (u < 0.2), random_tokens_like(ids, vocab_size, generator), corrupted)
    return corrupted, torch.where(chosen, ids, torch.full_like(ids, -100))
