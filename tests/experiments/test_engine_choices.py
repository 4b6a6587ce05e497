"""The engine-choices benchmark's variants are engines the product would accept."""

from __future__ import annotations

import pytest

from experiments.benchmarks.engine_choices import variants
from forecasting.engine import DEFAULT_CANDIDATES, ForecastEngine
from models.registry import REGISTRY


@pytest.mark.parametrize("freq", sorted(DEFAULT_CANDIDATES))
@pytest.mark.parametrize("slow", [False, True])
def test_every_variant_names_registered_models_once_each(freq: str, slow: bool) -> None:
    """A variant that adds a model the defaults already hold would stop the benchmark after
    its earlier variants had run: each names every model once, and only registered ones."""
    for label, settings in variants(freq, slow).items():
        models = settings.get("models", DEFAULT_CANDIDATES[freq])
        assert len(models) == len(set(models)), label
        assert all(name in REGISTRY for name in models), label
        ForecastEngine(3, **settings)  # every setting is one the engine takes
