"""FeedForward adds its input to its output: the residual belongs to the layer, not to the network."""

CAUGHT_BY = ["encoder.feed_forward"]


def forward(self, x):
    return x + self.linear2(self.dropout(self.activation(self.linear1(x))))


FeedForward.forward = forward
