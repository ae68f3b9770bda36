"""MultiHeadAttention.forward computes the keys and values from the query: cross-attention becomes self-attention."""

CAUGHT_BY = ["attention.multi_head"]


def forward(self, query, key=None, value=None, *, mask=None, key_mask=None, is_causal=False,
            return_weights=False, kv_cache=None):
    self_attention = key is None
    q, k, v = (split_heads(p(query), self.n_heads) for p in (self.q_proj, self.k_proj, self.v_proj))
    k, v = self._use_cache(k, v, kv_cache, self_attention)
    if key_mask is not None:
        mask = _both(mask, key_mask[:, None, None, :])
    out, weights = self._attend(q, k, v, mask, is_causal, return_weights)
    out = self.out_proj(merge_heads(out))
    return (out, weights) if return_weights else out


MultiHeadAttention.forward = forward
