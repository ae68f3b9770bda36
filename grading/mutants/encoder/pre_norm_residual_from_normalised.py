"""The pre-norm layer overwrites x with norm(x) and adds the sub-layer to that: the residual stream gets normalised."""

CAUGHT_BY = ["encoder.pre_norm_layer"]


def forward_pre_norm(self, x, padding_mask=None):
    x = self.norm1(x)
    x = x + self.attention_block(x, padding_mask)
    x = self.norm2(x)
    return x + self.feed_forward_block(x)


EncoderLayer.forward_pre_norm = forward_pre_norm
