"""What ``talentcast retrain`` writes: progress on a terminal, nothing extra in a pipe or under
``--json``, and no library chatter unless ``--verbose`` asks for it."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner
from worlds import load_world

from data.ingest import open_store
from forecasting.pipeline import STAGES
from serving.cli import app

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: A small city trained with small settings: a retrain takes seconds.
SMALL = {
    "TALENTCAST_SAMPLES": "200",
    "TALENTCAST_TRAIN_JOBS": "1",
    "TALENTCAST_HORIZON_YEARS": "3",
    "TALENTCAST_BALANCE_BACKTEST_CUTS": "1",
    "TALENTCAST_MLFLOW_TRACKING_URI": "",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The store URL of the small city (each test adds its runs to it)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('world') / 'world.db'}"
    store = open_store(url)
    try:
        load_world(store)
    finally:
        store.dispose()
    return url


def command(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "serving.cli", "--database-url", url, *args]


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, **SMALL, **extra}


def on_terminal(arguments: list[str], env: Mapping[str, str], columns: int = 160) -> str:
    """Everything a command writes to a terminal ``columns`` wide (stdout and stderr)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen(
        arguments, stdin=follower, stdout=follower, stderr=follower, env=dict(env)
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the command exited and closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=120) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_retrain_on_a_terminal_names_each_stage_and_sums_them_up(world: str) -> None:
    shown = ANSI.sub("", on_terminal(command(world, "retrain"), environment()))
    live = set(re.findall(r"training: ([a-z_]+)", shown))
    assert set(STAGES) <= live, live
    assert re.search(r"balance_backtest · balances replayed \d/2", shown)  # 1 cut × 2 models
    # The run's own supply engines are fitted while the cut year is replayed, and counted there.
    assert re.search(r"balance_backtest · enrollment series \(2\) batches \d+/\d+", shown)
    summary = shown[shown.index("seconds per stage") :]
    for stage in (*STAGES, "total"):
        assert re.search(rf"{stage}\s+│\s+\d+\.\d", summary), stage
    assert "run #" in summary  # the result follows the summary


@pytest.mark.slow
def test_retrain_in_a_pipe_prints_its_result_without_progress_or_chatter(
    world: str, tmp_path: Path
) -> None:
    """With MLflow tracking on: none of its log lines, coloured warnings or progress bars."""
    tracking = {
        "TALENTCAST_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "TALENTCAST_MLFLOW_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
    }
    piped = subprocess.run(
        command(world, "retrain"), env=environment(**tracking), capture_output=True, check=False
    )
    assert piped.returncode == 0, piped.stderr
    output = (piped.stdout + piped.stderr).decode()
    assert re.search(r"run #\d+ succeeded", output)
    assert "seconds per stage" not in output
    assert "balance_backtest" not in output
    assert "\x1b" not in output
    assert "INFO" not in output
    assert "mlflow" not in output.lower()
    assert "Downloading artifacts" not in output

    verbose = subprocess.run(
        command(world, "--verbose", "retrain"),
        env={
            **environment(**tracking),
            "TALENTCAST_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/v.db",
        },
        capture_output=True,
        check=False,
    )
    assert verbose.returncode == 0, verbose.stderr
    chatter = verbose.stderr.decode()
    assert re.search(r"INFO mlflow\.", chatter), chatter
    assert "Created version '1' of model 'talentcast-forecaster'" in chatter


@pytest.mark.slow
def test_retrain_json_is_the_run_record_alone(world: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SMALL.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["--database-url", world, "retrain", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["status"] == "succeeded"
    assert list(record["timings"]) == list(STAGES)
    store = open_store(world)
    try:
        stored = store.run(record["run"])
    finally:
        store.dispose()
    assert stored.served is record["served"]
    assert stored.watermark == record["watermark"]


@pytest.mark.parametrize("where", ["terminal", "pipe"])
def test_help_uses_the_width_there_is(where: str, tmp_path: Path) -> None:
    """On a terminal 160 columns wide, and in a pipe (no width to ask), an option's help is
    not wrapped at 80 columns."""
    arguments = command(f"sqlite:///{tmp_path / 'none.db'}", "scheduler", "--help")
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    if where == "terminal":
        shown = ANSI.sub("", on_terminal(arguments, env, columns=160))
    else:
        shown = subprocess.run(arguments, env=env, capture_output=True, check=True).stdout.decode()
    line = next(line for line in shown.splitlines() if "--once" in line)
    assert "Check once, retrain if due, and exit (run it every few minutes from cron or a" in line
    assert len(line.rstrip()) > 120
