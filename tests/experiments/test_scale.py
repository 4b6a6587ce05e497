"""The scale benchmark's measurements: the growth exponent and the memory peak it reports."""

from __future__ import annotations

import time

import numpy as np
import pytest

from experiments.benchmarks.scale import PeakMemory, growth_exponent, observed_series
from experiments.national import national_demo


def test_growth_exponent_reads_the_power_law() -> None:
    series = [100, 400, 1600, 6400]
    assert growth_exponent(series, [0.5 * n for n in series]) == pytest.approx(1.0)
    assert growth_exponent(series, [0.01 * n**1.5 for n in series]) == pytest.approx(1.5)
    assert np.isnan(growth_exponent([100, 100], [1.0, 2.0]))


def test_peak_memory_sees_an_allocation_that_is_gone_by_the_end() -> None:
    with PeakMemory(interval=0.01).watching() as peak:
        before = peak.own
        block = np.ones(200 * 1024 * 1024 // 8)  # 200 MiB, touched
        time.sleep(0.1)
        del block
    assert peak.own - before > 150 * 1024 * 1024
    assert peak.tree >= peak.own


def test_series_grow_with_the_cities() -> None:
    one = observed_series(national_demo(1, seed=3))
    three = observed_series(national_demo(3, seed=3))
    assert three == 3 * one
