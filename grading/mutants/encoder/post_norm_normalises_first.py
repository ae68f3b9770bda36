"""The post-norm layer normalises before each sub-layer (pre-norm wiring) instead of after the sum."""

CAUGHT_BY = ["encoder.post_norm_layer"]


def forward_post_norm(self, x, padding_mask=None):
    x = x + self.attention_block(self.norm1(x), padding_mask)
    return x + self.feed_forward_block(self.norm2(x))


EncoderLayer.forward_post_norm = forward_post_norm
