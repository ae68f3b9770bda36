"""Training breaks ties by the pair seen first (max(counts, key=counts.get)), not the smallest pair."""

CAUGHT_BY = ["tokenization.train_bpe"]

_Base = IncrementalPairCounts  # noqa: F821 - defined by the module this mutant is run over


class IncrementalPairCounts(_Base):
    def most_frequent(self):
        if not self.counts:
            return None
        return max(self.counts, key=self.counts.get)
