"""The bench harness's own helpers: the exactly-once verdict and the summary statistics it prints."""

import pytest

from bench import stats


def test_exactly_once_accepts_each_key_once_in_any_order():
    verdict = stats.exactly_once(["b", "a", "c"], {"a", "b", "c"})
    assert verdict.ok
    assert (verdict.published, verdict.expected) == (3, 3)


def test_exactly_once_names_duplicated_missing_and_unexpected_keys():
    verdict = stats.exactly_once(["a", "a", "x"], ["a", "b"])
    assert not verdict.ok
    assert verdict.duplicated == ["a"]
    assert verdict.missing == ["b"]
    assert verdict.unexpected == ["x"]
    assert "1 duplicated, 1 missing, 1 unexpected" in verdict.summary()


def test_median_and_nearest_rank_percentile():
    assert stats.median([3.0, 1.0, 2.0]) == 2.0
    assert stats.median([4.0, 1.0, 2.0, 3.0]) == 2.5
    values = [float(v) for v in range(1, 101)]
    assert stats.percentile(values, 50) == 50.0
    assert stats.percentile(values, 99) == 99.0
    assert stats.percentile(values, 100) == 100.0
    assert stats.percentile([7.0], 99) == 7.0


def test_statistics_of_nothing_are_errors():
    with pytest.raises(ValueError, match="no values"):
        stats.median([])
    with pytest.raises(ValueError, match="pct"):
        stats.percentile([1.0], 0)


def test_ratio_of_zero_baseline_is_none():
    assert stats.ratio(10.0, 4.0) == 2.5
    assert stats.ratio(1.0, 0.0) is None
