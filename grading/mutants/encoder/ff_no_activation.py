"""FeedForward forgets the nonlinearity: two linear layers collapse into one linear map."""

CAUGHT_BY = ["encoder.feed_forward"]


def forward(self, x):
    return self.linear2(self.dropout(self.linear1(x)))


FeedForward.forward = forward
