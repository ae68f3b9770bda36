"""RewardModel.forward reads the value at the last position of the padded row (padding for the shorter rows)."""

CAUGHT_BY = ["rlhf.reward_model"]


def forward(self, idx, attention_mask=None):
    values = self.head(self.backbone.features(idx)).squeeze(-1)
    return values[:, -1]


RewardModel.forward = forward
