"""Training merges the LEAST frequent pair (min of the counts instead of max)."""

CAUGHT_BY = ["tokenization.train_bpe"]

_Base = IncrementalPairCounts  # noqa: F821 - defined by the module this mutant is run over


class IncrementalPairCounts(_Base):
    def most_frequent(self):
        if not self.counts:
            return None
        return min(self.counts, key=lambda p: (self.counts[p], p))
