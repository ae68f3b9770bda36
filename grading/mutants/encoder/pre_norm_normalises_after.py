"""The pre-norm layer normalises after the residual sum (post-norm wiring)."""

CAUGHT_BY = ["encoder.pre_norm_layer"]


def forward_pre_norm(self, x, padding_mask=None):
    x = self.norm1(x + self.attention_block(x, padding_mask))
    return self.norm2(x + self.feed_forward_block(x))


EncoderLayer.forward_pre_norm = forward_pre_norm
