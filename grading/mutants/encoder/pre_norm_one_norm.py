"""The pre-norm layer uses norm1 before both sub-layers (norm2 is never used)."""

CAUGHT_BY = ["encoder.pre_norm_layer"]


def forward_pre_norm(self, x, padding_mask=None):
    x = x + self.attention_block(self.norm1(x), padding_mask)
    return x + self.feed_forward_block(self.norm1(x))


EncoderLayer.forward_pre_norm = forward_pre_norm
