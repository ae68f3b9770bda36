"""DecoderLayer's cross-attention takes its keys and values from the target x instead of memory."""

CAUGHT_BY = ["decoder.decoder_layer"]


def _forward(self, x, memory, *, causal=True, padding_mask=None, memory_padding_mask=None):
    self_mask = None if padding_mask is None else padding_mask[:, None, None, :]
    if self.norm_first:
        h = self.norm1(x)
        x = x + self.dropout1(self.self_attn(h, mask=self_mask, is_causal=causal))
        h = self.norm2(x)
        x = x + self.dropout2(self.cross_attn(h, h, h, mask=self_mask))
        return x + self.dropout3(self.ff(self.norm3(x)))
    x = self.norm1(x + self.dropout1(self.self_attn(x, mask=self_mask, is_causal=causal)))
    x = self.norm2(x + self.dropout2(self.cross_attn(x, x, x, mask=self_mask)))
    return self.norm3(x + self.dropout3(self.ff(x)))


DecoderLayer.forward = _forward
