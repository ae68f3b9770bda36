"""IncrementalPairCounts.merge leaves pairs whose count dropped to 0 in counts (and never stops early)."""

CAUGHT_BY = ["tokenization.train_bpe"]

_Base = IncrementalPairCounts  # noqa: F821 - defined by the module this mutant is run over


class IncrementalPairCounts(_Base):
    def merge(self, pair, new_id):
        before = set(self.counts)
        super().merge(pair, new_id)
        for p in before:
            if p not in self.counts:
                self.counts[p] = 0
                heapq.heappush(self.heap, (0, p))  # noqa: F821
