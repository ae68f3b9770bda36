"""The post-norm layer drops the padding mask: real tokens attend to padding."""

CAUGHT_BY = ["encoder.post_norm_layer"]


def forward_post_norm(self, x, padding_mask=None):
    x = self.norm1(x + self.attention_block(x))
    return self.norm2(x + self.feed_forward_block(x))


EncoderLayer.forward_post_norm = forward_post_norm
