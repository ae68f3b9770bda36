"""MultiHeadAttention.forward merges the heads but never applies out_proj."""

CAUGHT_BY = ["attention.multi_head"]


def forward(self, query, key=None, value=None, *, mask=None, key_mask=None, is_causal=False,
            return_weights=False, kv_cache=None):
    self_attention, key = key is None, query if key is None else key
    value = key if value is None else value
    q, k, v = (split_heads(p(t), self.n_heads) for p, t in ((self.q_proj, query), (self.k_proj, key), (self.v_proj, value)))
    k, v = self._use_cache(k, v, kv_cache, self_attention)
    if key_mask is not None:
        mask = _both(mask, key_mask[:, None, None, :])
    out, weights = self._attend(q, k, v, mask, is_causal, return_weights)
    out = merge_heads(out)
    return (out, weights) if return_weights else out


MultiHeadAttention.forward = forward
