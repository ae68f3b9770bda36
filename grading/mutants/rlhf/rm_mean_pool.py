"""RewardModel.forward averages the values over the real tokens instead of reading the last one."""

CAUGHT_BY = ["rlhf.reward_model"]


def forward(self, idx, attention_mask=None):
    values = self.head(self.backbone.features(idx)).squeeze(-1)
    if attention_mask is None:
        return values.mean(dim=1)
    mask = attention_mask.float()
    return (values * mask).sum(dim=1) / mask.sum(dim=1)


RewardModel.forward = forward
