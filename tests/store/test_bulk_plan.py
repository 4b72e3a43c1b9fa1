"""The batch plan both bulk writers follow: rows in key order, the last of duplicate keys kept,
each turbine's range, and overlaps between a file's batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datamgr.store.bulk.plan import FileSpans, plan_batch


@pytest.mark.parametrize(
    ("turbines", "minutes", "replaced"),
    [
        (["T01", "T02", "T01", "T02"], [0, 0, 10, 10], [False, False, False, False]),  # a farm export's order
        (["T02", "T01", "T02", "T01"], [0, 0, 10, 10], [False, False, False, False]),
        (["T01", "T02", "T02", "T01"], [0, 0, 10, 10], [False, False, False, False]),  # turbines in another order
        (["T01", "T01", "T01"], [0, 10, 10], [False, True, False]),
        (["T01", "T02", "T01"], [10, 0, 10], [True, False, False]),  # going back in time
        (["T01", "T01", "T01", "T01"], [30, 10, 30, 30], [True, False, True, False]),
    ],
)
def test_the_last_of_duplicate_keys_is_kept_as_pandas_would(
    turbines: list[str], minutes: list[int], replaced: list[bool]
) -> None:
    assert pd.DataFrame({"t": turbines, "m": minutes}).duplicated(keep="last").tolist() == replaced
    labels = np.arange(100, 100 + len(turbines))
    plan = plan_batch(pd.Series(turbines), np.array(minutes, dtype=np.int64), labels)
    gone = sorted(set(range(len(turbines))) - set(plan.order.tolist()))
    assert gone == [i for i, r in enumerate(replaced) if r]
    assert plan.first_duplicates == [100 + i for i in gone][:3]
    kept_keys = [(turbines[i], minutes[i]) for i in plan.order]
    first_seen = {t: turbines.index(t) for t in turbines}
    # turbine by turbine (in the order they first appear), oldest first
    assert kept_keys == sorted(kept_keys, key=lambda key: (first_seen[key[0]], key[1]))
    assert sum(part.read for part in plan.parts) == len(turbines)
    assert sum(part.duplicates for part in plan.parts) == sum(replaced)


def test_each_turbine_part_has_its_range_and_counts() -> None:
    plan = plan_batch(pd.Series(["T02", "T01", "T02", "T02"]), np.array([20, 5, 10, 20], dtype=np.int64), np.arange(4))
    summary = [(p.turbine, p.low, p.high, p.read, p.duplicates, p.positions.tolist()) for p in plan.parts]
    assert summary == [("T02", 10, 20, 3, 1, [2, 3]), ("T01", 5, 5, 1, 0, [1])]


def test_file_spans_flag_a_turbine_whose_batches_overlap() -> None:
    spans = FileSpans()
    spans.add(plan_batch(pd.Series(["T01", "T02"]), np.array([0, 50], dtype=np.int64), np.arange(2)))
    spans.add(plan_batch(pd.Series(["T01", "T02"]), np.array([10, 60], dtype=np.int64), np.arange(2, 4)))
    assert not spans.overlap
    assert spans.bounds("T01") == (0, 10) and spans.read == {"T01": 2, "T02": 2}
    spans.add(plan_batch(pd.Series(["T02"]), np.array([55], dtype=np.int64), np.arange(4, 5)))
    assert not spans.overlap  # 55 falls between T02's batches, not inside one
    spans.add(plan_batch(pd.Series(["T01"]), np.array([10], dtype=np.int64), np.arange(5, 6)))
    assert spans.overlap
