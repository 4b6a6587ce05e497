"""A trained demo store shared by the API and dashboard tests, with a key for every role."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support import Demo, demo_keys

from data.demo import load_demo
from data.ingest import open_store
from forecasting.pipeline import TrainingConfig, train
from forecasting.quotas import QuotaSettings
from forecasting.settings import BalanceSettings
from serving.app import create_app


@pytest.fixture(scope="session")
def trained_demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    path: Path = tmp_path_factory.mktemp("served") / "demo.db"
    url = f"sqlite:///{path}"
    store = open_store(url)
    try:
        load_demo(store)
        config = TrainingConfig(
            balance=BalanceSettings(horizon=5, n_samples=200, n_jobs=1),
            quotas=QuotaSettings(scenarios=50, resamples=2),
            balance_backtest_cuts=0,
        )
        run = train(store, config).run
        keys = demo_keys(store)
    finally:
        store.dispose()
    return Demo(url, keys, run.id)


@pytest.fixture
def client(trained_demo: Demo) -> Iterator[TestClient]:
    """The app on the trained demo (a fresh process cache per test)."""
    with TestClient(create_app(trained_demo.settings())) as test_client:
        yield test_client


@pytest.fixture
def writable(trained_demo: Demo, tmp_path: Path) -> Demo:
    """A copy of the trained demo store that a test may write to."""
    source = Path(trained_demo.url.removeprefix("sqlite:///"))
    copy = tmp_path / "copy.db"
    shutil.copy(source, copy)
    return Demo(f"sqlite:///{copy}", trained_demo.keys, trained_demo.run_id)
