"""The post-norm layer adds x after normalising the sub-layer: x + norm(sublayer(x))."""

CAUGHT_BY = ["encoder.post_norm_layer"]


def forward_post_norm(self, x, padding_mask=None):
    x = x + self.norm1(self.attention_block(x, padding_mask))
    return x + self.norm2(self.feed_forward_block(x))


EncoderLayer.forward_post_norm = forward_post_norm
