"""The pre-norm layer forgets the residual connections: x = sublayer(norm(x))."""

CAUGHT_BY = ["encoder.pre_norm_layer"]


def forward_pre_norm(self, x, padding_mask=None):
    x = self.attention_block(self.norm1(x), padding_mask)
    return self.feed_forward_block(self.norm2(x))


EncoderLayer.forward_pre_norm = forward_pre_norm
