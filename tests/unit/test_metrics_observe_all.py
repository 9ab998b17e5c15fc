"""``metrics.observe_all`` leaves a histogram exactly as observing each amount would."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import CollectorRegistry, Histogram

from scheduling.ops import metrics


def _samples(histogram: Histogram) -> dict[tuple[str, str], float]:
    return {
        (sample.name, sample.labels.get("le", "")): sample.value
        for family in histogram.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


@pytest.mark.parametrize(
    "amounts",
    [
        [],
        [0.0],
        [0.01, 0.025, 1.0, 3600.0],  # exactly on bounds: counted in that bucket (le is inclusive)
        [0.0, 0.003, 0.2, 0.2, 0.2, 7.5, 4000.0, 99999.0],  # below the first, repeated, beyond the last finite
    ],
)
def test_observe_all_matches_observing_one_by_one(amounts: list[float]) -> None:
    registry = CollectorRegistry()
    # names of their own: in multiprocess mode a value lives on in the process's file under its name
    case = uuid.uuid4().hex[:12]
    one_by_one = Histogram(f"one_by_one_{case}", "", buckets=metrics.LAG_BUCKETS, registry=registry)
    at_once = Histogram(f"at_once_{case}", "", buckets=metrics.LAG_BUCKETS, registry=registry)
    for amount in amounts:
        one_by_one.observe(amount)
    metrics.observe_all(at_once, amounts)
    expected = {(name.replace("one_by_one", "at_once"), le): v for (name, le), v in _samples(one_by_one).items()}
    assert _samples(at_once) == pytest.approx(expected)
    assert _samples(at_once)[(f"at_once_{case}_count", "")] == len(amounts)
