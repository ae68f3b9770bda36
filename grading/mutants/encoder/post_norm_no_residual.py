"""The post-norm layer forgets the residual connections: norm(sublayer(x)) instead of norm(x + sublayer(x))."""

CAUGHT_BY = ["encoder.post_norm_layer"]


def forward_post_norm(self, x, padding_mask=None):
    x = self.norm1(self.attention_block(x, padding_mask))
    return self.norm2(self.feed_forward_block(x))


EncoderLayer.forward_post_norm = forward_post_norm
