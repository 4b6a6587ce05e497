"""Combinations of members: arithmetic, validation, and use as an ordinary model."""

from __future__ import annotations

import numpy as np
import pytest

from features.panel import Panel
from models.base import ModelError
from models.combination import Combination, combine_arrays, combine_forecasts
from models.drift import Drift
from models.naive import Naive
from models.theta import Theta


def test_combine_arrays_median_mean_and_weights() -> None:
    arrays = [np.array([1.0, 10.0]), np.array([2.0, 20.0]), np.array([9.0, 30.0])]
    assert combine_arrays(arrays, "median").tolist() == [2.0, 20.0]
    assert combine_arrays(arrays, "mean").tolist() == [4.0, 20.0]
    assert combine_arrays(arrays[:2], "mean", [3, 1]).tolist() == [1.25, 12.5]
    with pytest.raises(ModelError, match="weights"):
        combine_arrays(arrays[:2], "mean", [1, -1])


def test_combination_is_a_forecaster_averaging_its_members() -> None:
    panel = Panel.from_arrays({"a": np.arange(10.0), "b": np.full(6, 3.0)}, freq="Y")
    combined = Combination(["naive", Drift()], method="mean").fit(panel).predict(2)
    naive = Naive().fit(panel).predict(2)
    drift = Drift().fit(panel).predict(2)
    np.testing.assert_allclose(combined.mean, (naive.mean + drift.mean) / 2)
    assert combined.mean[0].tolist() == [9.5, 10.0]
    np.testing.assert_allclose(
        combine_forecasts([naive, drift], "mean").upper[80], combined.upper[80]
    )


def test_member_templates_are_not_fitted_in_place() -> None:
    template = Drift()
    panel = Panel.from_arrays({"a": np.arange(5.0)}, freq="Y")
    Combination([template, "naive"]).fit(panel)
    assert not hasattr(template, "train_panel_")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"members": []}, "^members must be a non-empty sequence of models, got \\[\\]$"),
        ({"members": ["naive"], "method": "mode"}, "^method must be one of 'median', 'mean'"),
        ({"members": ["naive", "drift"], "method": "median", "weights": [1, 2]}, "^weights .*mean"),
        ({"members": ["naive", "drift"], "method": "mean", "weights": [1]}, "^weights must be 2"),
        ({"members": ["nonsense"]}, "^members must be one of 'naive', .*got 'nonsense'$"),
        ({"members": ["naive", Theta(theta=0)]}, "^theta must be a number at least 1, got 0$"),
    ],
)
def test_invalid_combinations(kwargs: dict[str, object], message: str) -> None:
    panel = Panel.from_arrays({"a": np.arange(5.0)}, freq="Y")
    with pytest.raises(ModelError, match=message):
        Combination(**kwargs).fit(panel)  # type: ignore[arg-type]


def test_registry_names_are_unique_and_comb_is_the_m4_benchmark() -> None:
    from models.registry import _SPECS, REGISTRY, create

    assert len(REGISTRY) == len(_SPECS)
    comb = create("comb")
    assert isinstance(comb, Combination)
    assert comb.get_params()["members"] == ("ses", "holt", "damped")
