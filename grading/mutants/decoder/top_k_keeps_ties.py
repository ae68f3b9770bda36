"""top_k_filter keeps every score >= the k-th best (nanoGPT's threshold): more than k tokens at a tie."""

CAUGHT_BY = ["decoder.top_k"]


def top_k_filter(logits, k):
    if k >= logits.shape[-1]:
        return logits.clone()
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))
