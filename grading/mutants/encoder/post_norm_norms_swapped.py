"""The post-norm layer uses norm2 after attention and norm1 after the feed-forward."""

CAUGHT_BY = ["encoder.post_norm_layer"]


def forward_post_norm(self, x, padding_mask=None):
    x = self.norm2(x + self.attention_block(x, padding_mask))
    return self.norm1(x + self.feed_forward_block(x))


EncoderLayer.forward_post_norm = forward_post_norm
