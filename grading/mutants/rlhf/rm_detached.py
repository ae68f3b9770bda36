"""RewardModel.forward computes the features under torch.no_grad(), so the backbone never learns."""

CAUGHT_BY = ["rlhf.reward_model"]


def forward(self, idx, attention_mask=None):
    with torch.no_grad():
        features = self.backbone.features(idx)
    values = self.head(features).squeeze(-1)
    last = (attention_mask.long().sum(dim=1) - 1) if attention_mask is not None else \
        torch.full((idx.shape[0],), idx.shape[1] - 1, dtype=torch.long)
    return values.gather(1, last[:, None]).squeeze(1)


RewardModel.forward = forward
