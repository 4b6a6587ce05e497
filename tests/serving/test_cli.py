"""The ``talentcast`` command line as an operator uses it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result
from support import crafted_samples
from typer.testing import CliRunner

from data.ingest import open_store
from forecasting.scenarios import ARTIFACT_NAME
from serving.auth import hash_key
from serving.cli import app

GOOD = "年份,专业代码,层次,招生数\n2019,080717T,本科,120\n2020,080717T,本科,150\n"
BAD = "year,programme_code,level,enrolled\n2019,080717T,bachelor,120\n2020,080799,bachelor,-4\n"


Invoke = Callable[..., Result]


@pytest.fixture
def cli(tmp_path: Path) -> Invoke:
    """Run ``talentcast`` against a fresh SQLite store in the test's folder, with Tianjin's
    catalog loaded as an admin does."""
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str) -> Result:
        return runner.invoke(app, ["--database-url", url, *args])

    loaded = run("catalog", "load", "--reference", "tianjin")
    assert loaded.exit_code == 0, loaded.output
    return run


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_an_empty_store_stays_empty_until_an_admin_loads_a_catalog(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'new_city.db'}"

    def run(*args: str) -> Result:
        return runner.invoke(app, ["--database-url", url, *args])

    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "(upload #0)" in upgraded.stdout
    refused = run("ingest", "enrollment", write(tmp_path, "e.csv", GOOD))
    assert refused.exit_code == 1
    assert "no catalog yet" in refused.stderr
    assert "catalog load" in refused.stderr.replace("\n", " ")
    assert run("retrain").exit_code == 1
    no_fields = run(
        "catalog", "load", write(tmp_path, "p.csv", "programme_code,level\nother,bachelor\n")
    )
    assert no_fields.exit_code == 1
    assert "send a fields file" in no_fields.stderr
    unknown = run("catalog", "load", "--reference", "atlantis")
    assert unknown.exit_code == 2
    assert "tianjin" in unknown.stderr
    store = open_store(url)
    try:
        assert store.uploads() == []
        assert store.runs() == []
    finally:
        store.dispose()
    loaded = run("catalog", "load", "--reference", "tianjin")
    assert loaded.exit_code == 0, loaded.output
    assert "as upload #1" in loaded.stdout
    assert run("ingest", "enrollment", write(tmp_path, "e.csv", GOOD)).exit_code == 0


def test_ingest_accepts_a_gbk_file_and_reports_the_upload(cli: Invoke, tmp_path: Path) -> None:
    result = cli("ingest", "enrollment", write(tmp_path, "招生.csv", GOOD, "gbk"))
    assert result.exit_code == 0, result.output
    assert "accepted 2 rows as upload #2" in result.stdout
    again = cli("ingest", "enrollment", write(tmp_path, "again.csv", GOOD))
    assert again.exit_code == 0
    assert "identical content is already stored as upload #2" in again.stdout


def test_ingest_rejection_lists_problems_and_exits_non_zero(cli: Invoke, tmp_path: Path) -> None:
    result = cli("ingest", "enrollment", write(tmp_path, "bad.csv", BAD))
    assert result.exit_code == 1
    assert "rejected: 2 problem(s); nothing was stored" in result.stderr
    assert "row 3, column 'enrolled': '-4' is negative" in result.stderr
    assert "row 3, column 'programme_code': unknown programme code '080799'" in result.stderr
    listing = cli("uploads", "list", "--kind", "enrollment")
    assert listing.exit_code == 0
    assert "080799" not in listing.stdout
    assert "enrollment" not in listing.stdout


def test_ingest_json_output_for_scripts(cli: Invoke, tmp_path: Path) -> None:
    rejected = cli("ingest", "enrollment", write(tmp_path, "bad.csv", BAD), "--json")
    assert rejected.exit_code == 1
    payload = json.loads(rejected.stdout)
    assert payload["status"] == "rejected"
    negative = {
        "row": 3,
        "column": "enrolled",
        "code": "count.negative",
        "reason": "'-4' is negative",
    }
    assert negative in payload["problems"]
    accepted = cli(
        "ingest", "enrollment", write(tmp_path, "ok.csv", GOOD), "--json", "--uploader", "me"
    )
    assert accepted.exit_code == 0
    record = json.loads(accepted.stdout)
    assert record["created"] is True
    assert record["uploader"] == "me"
    assert record["row_count"] == 2


def test_unknown_kind_and_missing_file_are_usage_errors(cli: Invoke, tmp_path: Path) -> None:
    assert cli("ingest", "salaries", write(tmp_path, "x.csv", GOOD)).exit_code == 2
    assert cli("ingest", "enrollment", str(tmp_path / "nope.csv")).exit_code == 2


def test_uploads_show(cli: Invoke, tmp_path: Path) -> None:
    cli("ingest", "enrollment", write(tmp_path, "ok.csv", GOOD))
    shown = cli("uploads", "show", "2")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["filename"] == "ok.csv"
    missing = cli("uploads", "show", "99")
    assert missing.exit_code == 1
    assert "no upload with id 99" in missing.stderr


def test_catalog_export_edit_and_load(cli: Invoke, tmp_path: Path) -> None:
    exported = cli("catalog", "export", str(tmp_path / "cat"))
    assert exported.exit_code == 0, exported.output
    programmes = tmp_path / "cat" / "programmes.csv"
    same = cli("catalog", "load", str(programmes))
    assert same.exit_code == 0
    assert "identical content is already stored as upload #1" in same.stdout
    lines = programmes.read_text(encoding="utf-8-sig").splitlines()
    kept = [line for line in lines if not line.startswith("080717T,")]
    programmes.write_text("\n".join(kept) + "\n", encoding="utf-8")
    loaded = cli("catalog", "load", str(programmes))
    assert loaded.exit_code == 0, loaded.output
    assert "as upload #2" in loaded.stdout
    result = cli("ingest", "enrollment", write(tmp_path, "ai.csv", GOOD))
    assert result.exit_code == 1
    assert "unknown programme code '080717T'" in result.stderr


def test_bad_settings_are_reported_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TALENTCAST_CITY_REGION", "12")
    result = CliRunner().invoke(
        app, ["--database-url", f"sqlite:///{tmp_path}/x.db", "db", "upgrade"]
    )
    assert result.exit_code == 2
    assert "city_region" in result.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.fixture
def served_samples(cli: Invoke, tmp_path: Path) -> int:
    """A served run whose stored samples are the crafted ones (AI short, IC over-supplied)."""
    assert cli("ingest", "enrollment", write(tmp_path, "ai.csv", GOOD)).exit_code == 0
    store = open_store(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        run = store.create_run(store.watermark(), {})
        store.start_run(run.id)
        artifacts = {ARTIFACT_NAME: crafted_samples().to_bytes()}
        store.finish_run(run.id, {}, metrics={}, timings={}, artifacts=artifacts)
        store.set_served(run.id)
    finally:
        store.dispose()
    return run.id


def costs(output: str) -> dict[str, tuple[float, float]]:
    """Business-as-usual and scenario figures per row of the printed cost table."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) == 6 and cells[1].endswith(("persons", "cost")):
            rows[cells[1]] = (float(cells[2].replace(",", "")), float(cells[3].replace(",", "")))
    return rows


def test_scenario_moves_the_balance_of_the_served_run(
    cli: Invoke, tmp_path: Path, served_samples: int
) -> None:
    output = tmp_path / "scenario.csv"
    result = cli(
        "scenario", "--quota", "080717T|bachelor=200", "--shock", "ic=2", "--output", str(output)
    )
    assert result.exit_code == 0, result.output
    table = costs(result.stdout)
    # 100 more AI entrants in 2026 add 50 AI graduates in 2030, against a shortage of ~150.
    before, after = table["shortage persons"]
    assert after == pytest.approx(before - 50, abs=2.0)
    balance = pd.read_csv(output, encoding="utf-8-sig")
    ai_2030 = balance[(balance["field_code"] == "ai") & (balance["year"] == 2030)]
    assert float(ai_2030["supply_p50"].iloc[0]) == pytest.approx(100.0)
    ic = balance[(balance["field_code"] == "ic") & (balance["year"] == 2028)]
    assert float(ic["demand_p50"].iloc[0]) == pytest.approx(40.0, rel=0.05)
    same = cli("scenario", "--run", str(served_samples))
    assert same.exit_code == 0
    assert all(a == b for a, b in costs(same.stdout).values())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--quota", "080717T|bachelor"], "is not CODE|LEVEL[@YEAR]=N"),
        (["--quota", "999999|bachelor=5"], "unknown programme '999999|bachelor'"),
        (["--quota", "080717T|bachelor@2050=5"], "intake year 2050"),
        (["--shock", "quantum=1.2"], "unknown field 'quantum'"),
        (["--run", "99"], "99"),
    ],
)
def test_scenario_refuses_bad_input_with_the_reason(
    cli: Invoke, served_samples: int, arguments: list[str], message: str
) -> None:
    result = cli("scenario", *arguments)
    assert result.exit_code == 1
    assert message in result.stderr


def test_scenario_without_a_served_run_says_how_to_get_one(cli: Invoke) -> None:
    result = cli("scenario")
    assert result.exit_code == 1
    assert "talentcast retrain" in result.stderr


def test_policy_export_edit_check_and_use(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "policy.json"
    assert cli("policy", "export", "--default", str(path)).exit_code == 0
    policy = json.loads(path.read_text(encoding="utf-8"))
    policy["rules"][0]["threshold"] = 0.55
    path.write_text(json.dumps(policy), encoding="utf-8")
    checked = cli("policy", "check", str(path))
    assert checked.exit_code == 0, checked.output
    assert "moe_2011_reduce: MOE 2011, below 55%" in checked.stdout
    monkeypatch.setenv("TALENTCAST_POLICY_FILE", str(path))
    in_force = tmp_path / "in_force.json"
    assert cli("policy", "export", str(in_force)).exit_code == 0
    assert json.loads(in_force.read_text(encoding="utf-8"))["rules"][0]["threshold"] == 0.55

    policy["rules"][0]["action"] = "expel"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(policy), encoding="utf-8")
    refused = cli("policy", "check", str(broken))
    assert refused.exit_code == 1
    assert "expel" in refused.stderr
    # A broken policy file in the settings stops every command before it runs.
    path.write_text(json.dumps(policy), encoding="utf-8")
    started = cli("uploads", "list")
    assert started.exit_code == 2
    assert "policy_file" in started.stderr


def test_policy_check_lists_every_problem_and_where(cli: Invoke, tmp_path: Path) -> None:
    assert cli("policy", "export", "--default", str(tmp_path / "policy.json")).exit_code == 0
    policy = json.loads((tmp_path / "policy.json").read_text(encoding="utf-8"))
    policy["rules"][0]["threshold"] = 1.5
    policy["rules"][0]["action"] = "expel"
    policy["rules"][2]["code"] = policy["rules"][1]["code"]
    del policy["rules"][3]["code"]
    policy["reduce_share"] = 0
    policy["duplicate_yaers"] = 2
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(policy), encoding="utf-8")
    refused = cli("policy", "check", str(path))
    assert refused.exit_code == 1
    lines = refused.stderr.splitlines()
    assert lines[0] == "policy refused: 6 problem(s)"
    assert sorted(line.strip() for line in lines[1:]) == sorted(
        [
            "policy: unknown key(s) duplicate_yaers (allowed: rules, reduce_share, "
            "duplicate_min_programmes, duplicate_margin, duplicate_years)",
            "rule moe_2011_reduce: threshold must be a rate in (0, 1], got 1.5",
            "rule moe_2011_reduce: unknown action 'expel' (known: stop, alternate_years, "
            "cap_at_placed, reduce, no_new_points, review_duplicates)",
            "rule #4: missing key(s) code",
            "rule codes must be unique, repeated: tj_2009_cap_at_placed",
            "reduce_share must be in (0, 1], got 0",
        ]
    )


def test_keys_create_list_revoke_and_audit(cli: Invoke, tmp_path: Path) -> None:
    created = cli("keys", "create", "tj_ic_association", "--role", "association", "--field", "ic")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("tc_")
    assert len(secret) > 40
    listed = cli("keys", "list")
    assert "tj_ic_association" in listed.stdout
    assert secret not in listed.stdout, "a secret is shown once, never listed"
    assert secret[:10] in listed.stdout
    refused = cli("keys", "create", "planner", "--role", "planner", "--field", "ic")
    assert refused.exit_code == 1
    assert "field" in refused.stderr
    unknown_role = cli("keys", "create", "x", "--role", "boss")
    assert unknown_role.exit_code == 2
    revoked = cli("keys", "revoke", "tj_ic_association")
    assert revoked.exit_code == 0
    assert "tj_ic_association" not in cli("keys", "list").stdout
    again = cli("keys", "revoke", "tj_ic_association")
    assert again.exit_code == 1
    store = open_store(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        assert store.key_by_hash(hash_key(secret)) is None
        actions = [entry.action for entry in store.audit_log(limit=2)]
        assert actions == ["key.revoke", "key.create"]
    finally:
        store.dispose()


@pytest.mark.slow
def test_serve_answers_health_and_readiness(tmp_path: Path) -> None:
    port = free_port()
    url = f"sqlite:///{tmp_path / 'served.db'}"
    env = {**os.environ, "TALENTCAST_RUN_WORKER": "false"}
    command = [sys.executable, "-m", "serving.cli", "--database-url", url, "serve"]
    server = subprocess.Popen(
        [*command, "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        ready = wait_for(f"http://127.0.0.1:{port}/readyz", server)
        # An empty store stays empty: no catalog (Tianjin's or any) is loaded by starting.
        assert ready == {"status": "ready", "watermark": 0, "served_run": None}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as page:
            assert page.status == 200  # the dashboard answers (its sign-in page)
    finally:
        server.terminate()
        server.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"the server exited: {server.stderr.read().decode() if server.stderr else ''}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout} s")
