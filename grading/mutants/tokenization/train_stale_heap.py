"""most_frequent returns the heap's top without checking that its count is still current."""

CAUGHT_BY = ["tokenization.train_bpe"]

_Base = IncrementalPairCounts  # noqa: F821 - defined by the module this mutant is run over


class IncrementalPairCounts(_Base):
    def most_frequent(self):
        while self.heap and self.heap[0][1] not in self.counts:
            heapq.heappop(self.heap)  # noqa: F821
        return self.heap[0][1] if self.heap else None
