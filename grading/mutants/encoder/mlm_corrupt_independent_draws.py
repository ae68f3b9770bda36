"""mlm_corrupt draws "mask?" and "random?" independently (u1 < 0.8, then u2 < 0.1 among the rest): 80% / 2% / 18%."""

CAUGHT_BY = ["encoder.mlm_corrupt"]


def mlm_corrupt(ids, mask_id, vocab_size, *, generator=None, mask_prob=0.15, special_ids=()):
    ids = ids.long()
    chosen = uniform_like(ids, generator) < mask_prob
    if len(special_ids) > 0:
        chosen &= ~torch.isin(ids, torch.as_tensor(list(special_ids), device=ids.device))
    to_mask = chosen & (uniform_like(ids, generator) < 0.8)
    to_random = chosen & ~to_mask & (uniform_like(ids, generator) < 0.1)
    corrupted = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    corrupted = torch.where(to_random, random_tokens_like(ids, vocab_size, generator), corrupted)
    return corrupted, torch.where(chosen, ids, torch.full_like(ids, -100))
