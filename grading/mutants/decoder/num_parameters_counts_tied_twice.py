"""GPT.num_parameters sums over state_dict(), which lists the tied matrix twice (as tok_emb.weight and lm_head.weight)."""

CAUGHT_BY = ["decoder.num_parameters"]


def _num_parameters(self, non_embedding=True):
    total = sum(v.numel() for v in self.state_dict().values())
    if non_embedding:
        total -= self.tok_emb.weight.numel() + self.pos_emb.weight.numel()
    return total


GPT.num_parameters = _num_parameters
