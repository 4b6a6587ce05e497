"""How a run's balance backtest was done, as an admin reads it: ``talentcast runs list`` and
the stage timings of the runs page."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from data.catalog import load_default_catalog
from data.ingest import open_store
from serving.cli import app
from serving.dashboard.i18n import stage_name


def test_runs_list_says_which_cut_years_were_replayed_and_which_reused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    store = open_store(url, catalog=load_default_catalog())
    try:
        run = store.create_run(store.watermark(), {"balance_backtest_cuts": 2})
        store.start_run(run.id)
        replays = [
            {
                "cut": 2021,
                "status": "reused",
                "replayed": [],
                "reused": ["direct"],
                "seconds": 1.04,
            },
            {
                "cut": 2020,
                "status": "replayed",
                "replayed": ["direct"],
                "reused": [],
                "seconds": 38.5,
            },
        ]
        store.finish_run(
            run.id,
            {},
            metrics={"balance_backtest_replays": replays},
            timings={"balance_backtest": 39.6},
        )
    finally:
        store.dispose()
    shown = CliRunner().invoke(app, ["--database-url", url, "runs", "list"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "2021 reused 1.0 s" in shown.stdout
    assert "2020 replayed 38.5 s" in shown.stdout


def test_a_cut_year_of_the_balance_backtest_is_named_in_the_pages_language() -> None:
    assert stage_name("balance_backtest.2021.reused", "zh") == "供需回测 2021 复用"
    assert stage_name("balance_backtest.2020.replayed", "en") == "balance backtest 2020 replayed"
    assert stage_name("supply", "zh") == "供给预测"
