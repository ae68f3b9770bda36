"""Training counts each distinct chunk once, forgetting to weight it by how often it occurs."""

CAUGHT_BY = ["tokenization.train_bpe"]

_Base = IncrementalPairCounts  # noqa: F821 - defined by the module this mutant is run over


class IncrementalPairCounts(_Base):
    def __init__(self, chunks, freqs):
        super().__init__(chunks, [1] * len(freqs))
