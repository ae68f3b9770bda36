"""DecoderLayer never passes memory_padding_mask to the cross-attention: it attends to padded source positions."""

CAUGHT_BY = ["decoder.decoder_layer"]


def _forward(self, x, memory, *, causal=True, padding_mask=None, memory_padding_mask=None):
    self_mask = None if padding_mask is None else padding_mask[:, None, None, :]
    if self.norm_first:
        x = x + self.dropout1(self.self_attn(self.norm1(x), mask=self_mask, is_causal=causal))
        x = x + self.dropout2(self.cross_attn(self.norm2(x), memory, memory))
        return x + self.dropout3(self.ff(self.norm3(x)))
    x = self.norm1(x + self.dropout1(self.self_attn(x, mask=self_mask, is_causal=causal)))
    x = self.norm2(x + self.dropout2(self.cross_attn(x, memory, memory)))
    return self.norm3(x + self.dropout3(self.ff(x)))


DecoderLayer.forward = _forward
