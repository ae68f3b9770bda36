"""GPT.num_parameters(non_embedding=True) leaves out the token table but keeps the position table."""

CAUGHT_BY = ["decoder.num_parameters"]


def _num_parameters(self, non_embedding=True):
    total = sum(p.numel() for p in self.parameters())
    if non_embedding:
        total -= self.tok_emb.weight.numel()
        if self.lm_head.weight is not self.tok_emb.weight:
            total -= self.lm_head.weight.numel()
    return total


GPT.num_parameters = _num_parameters
