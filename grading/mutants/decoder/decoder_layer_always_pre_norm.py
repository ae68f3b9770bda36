"""DecoderLayer ignores norm_first and always wires the layer pre-norm."""

CAUGHT_BY = ["decoder.decoder_layer"]


def _forward(self, x, memory, *, causal=True, padding_mask=None, memory_padding_mask=None):
    self_mask = None if padding_mask is None else padding_mask[:, None, None, :]
    cross_mask = None if memory_padding_mask is None else memory_padding_mask[:, None, None, :]
    x = x + self.dropout1(self.self_attn(self.norm1(x), mask=self_mask, is_causal=causal))
    x = x + self.dropout2(self.cross_attn(self.norm2(x), memory, memory, mask=cross_mask))
    return x + self.dropout3(self.ff(self.norm3(x)))


DecoderLayer.forward = _forward
