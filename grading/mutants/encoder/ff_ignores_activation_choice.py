"""FeedForward always uses ReLU, whatever activation was asked for."""

CAUGHT_BY = ["encoder.feed_forward"]


def forward(self, x):
    return self.linear2(self.dropout(torch.relu(self.linear1(x))))


FeedForward.forward = forward
