"""What both bulk writers need to know of a batch before writing it: its rows in key order, which
of them a later row of the same key replaces, and each turbine's time range; and, across a
file's batches, whether a turbine's batches overlap in time (then a key may come twice).

A stable sort on (turbine, instant) puts duplicate keys side by side in arrival order, so the
last of each run is the one that wins: no hashing of keys is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@dataclass(frozen=True)
class TurbinePart:
    """One turbine's rows of a batch: kept positions in key order, time range, rows read, duplicates."""

    turbine: str
    positions: np.ndarray
    low: int
    high: int
    read: int
    duplicates: int


@dataclass(frozen=True)
class BatchPlan:
    order: np.ndarray  # the kept rows' positions, in key order
    parts: list[TurbinePart]
    first_duplicates: list[int]  # the row labels of the first replaced rows, in arrival order


def plan_batch(turbines: pd.Series, instants: np.ndarray, labels: np.ndarray) -> BatchPlan:
    """Plan one batch; `instants` are integers (any unit) in the rows' order, `labels` their row labels."""
    import numpy as np
    import pandas as pd

    n = len(instants)
    codes, names = pd.factorize(turbines, sort=False)
    if len(names) > 1:
        order = np.lexsort((instants, codes))
    elif (np.diff(instants) > 0).all():
        order = np.arange(n)  # one turbine, already in order: nothing to sort or collapse
    else:
        order = np.argsort(instants, kind="stable")
    codes, ordered = codes[order], instants[order]
    replaced = np.append((codes[1:] == codes[:-1]) & (ordered[1:] == ordered[:-1]), False)
    starts = np.flatnonzero(np.append(True, codes[1:] != codes[:-1]))
    parts = []
    for first, stop in zip(starts.tolist(), [*starts[1:].tolist(), n], strict=True):
        kept = ~replaced[first:stop]
        parts.append(
            TurbinePart(
                turbine=str(names[codes[first]]),
                positions=order[first:stop][kept],
                low=int(ordered[first]),
                high=int(ordered[stop - 1]),
                read=stop - first,
                duplicates=int((~kept).sum()),
            )
        )
    first_duplicates = labels[np.sort(order[replaced])[:3]].tolist() if replaced.any() else []
    return BatchPlan(order[~replaced], parts, first_duplicates)


@dataclass
class FileSpans:
    """Across a file's batches: each turbine's time ranges, rows read and duplicates."""

    spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    read: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    first_duplicates: list[int] = field(default_factory=list)
    overlap: bool = False  # a turbine's batches overlap in time: the file may repeat a key across batches

    def add(self, plan: BatchPlan) -> None:
        self.first_duplicates = (self.first_duplicates + plan.first_duplicates)[:3]
        for part in plan.parts:
            spans = self.spans.setdefault(part.turbine, [])
            if any(part.low <= high and low <= part.high for low, high in spans):
                self.overlap = True
            spans.append((part.low, part.high))
            self.read[part.turbine] = self.read.get(part.turbine, 0) + part.read
            self.duplicates[part.turbine] = self.duplicates.get(part.turbine, 0) + part.duplicates

    def bounds(self, turbine: str) -> tuple[int, int]:
        """The turbine's first and last instant in the file."""
        spans = self.spans[turbine]
        return min(low for low, _ in spans), max(high for _, high in spans)
