"""RewardModel.forward reads the value at position 0 (like BERT's [CLS]), which in a causal model has seen one token."""

CAUGHT_BY = ["rlhf.reward_model"]


def forward(self, idx, attention_mask=None):
    values = self.head(self.backbone.features(idx)).squeeze(-1)
    return values[:, 0]


RewardModel.forward = forward
