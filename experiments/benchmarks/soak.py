"""A soak test of the running service: reads at 32 clients for ten minutes while it retrains and
takes uploads, against a real ``talentcast serve`` with its run worker.

What a production day looks like, compressed: planners read the shortage ranking, the balance
and the forecasts without pause (32 keep-alive clients, the same mixed queries as
``api_load.py``), an admin queues a retrain with ``POST /runs`` and queues the next as soon as
one finishes (so training runs for most of the soak, in the worker process beside the server,
on the same two cores), and an industry association uploads 50 small hiring files spread over
the soak, every tenth sent twice as a client retrying after a timeout would. Served runs change
under the readers whenever a retrain succeeds and passes its gates.

It checks what a user relies on:

- no read, upload or run request fails (any answer other than 200/201/202, or a broken
  connection, is an error; there must be none);
- reads stay fast: p99 under 50 ms over the whole soak (and per minute in the table);
- every upload is stored exactly once: 50 uploads in the store from the association, each file
  with the rows it sent, and each retried file answered "already stored" (200), not stored
  again;
- every retrain finishes (succeeded, or failed with a reason: none may be left running).

Latency on a shared two-core machine depends on the machine as much as on the server, so the
same reads are first measured for ``--quiet-seconds`` (60) with nothing else running, in the
same run and on the same server: the summary's "vs quiet" columns say what the retrain and the
uploads cost the readers, whatever the machine.

    python experiments/benchmarks/soak.py                  # 10 minutes on SQLite, recorded
    python experiments/benchmarks/soak.py --seconds 60 --uploads 10 --no-record   # a quick look
    python experiments/benchmarks/soak.py --backend postgresql

The store is prepared as in ``api_load.py`` (the demo trained with 200 joint samples and no
balance backtest, for a fast start); the retrains during the soak use the product's default
training settings, so each is a full demo retrain.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
import numpy as np
import pandas as pd

from data.vocabulary import LEVELS
from experiments.benchmarks.api_load import (
    ENDPOINTS,
    HOST,
    TALENTCAST,
    add_postgres_option,
    encode_requests,
    postgres_url,
    prepare,
    run_phase,
    running_server,
    sqlite_url,
)
from experiments.benchmarks.recording import command_line, record

TARGET_P99_MS: Final = 50.0
ASSOCIATION_KEY: Final = "soak-ic-association"
ADMIN_KEY: Final = "soak-admin"
#: Every this-many-th upload is sent a second time, as a client retrying would.
RETRY_EVERY: Final = 10


@dataclass
class Events:
    """What the writers did during the soak (filled by their thread)."""

    uploads: list[dict[str, object]] = field(default_factory=list)
    runs: list[dict[str, object]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def issue_key(url: str, name: str, role: str, fields: str | None = None) -> str:
    """A key issued the way an admin does, with ``talentcast keys create``."""
    import subprocess

    command = [str(TALENTCAST), "--database-url", url, "keys"]
    subprocess.run([*command, "revoke", name], capture_output=True, check=False)
    extra = ["--field", fields] if fields else []
    created = subprocess.run(
        [*command, "create", name, "--role", role, *extra],
        check=True,
        capture_output=True,
        text=True,
    )
    return created.stdout.strip().splitlines()[-1]


def hiring_file(index: int) -> bytes:
    """A small monthly hiring file for IC, different for every ``index`` (so every upload is
    new content): twelve months of one level, with values drawn from a seeded generator."""
    rng = np.random.default_rng(index)
    year = 2015 + index % 10
    level = LEVELS[index % len(LEVELS)]
    postings = rng.integers(20, 200, size=12)
    frame = pd.DataFrame(
        {
            "period": [f"{year}-{month:02d}" for month in range(1, 13)],
            "field_code": "ic",
            "level": level,
            "postings": postings,
            "hires": (postings * rng.uniform(0.3, 0.7, size=12)).astype(int),
            "job_seekers": rng.integers(10, 150, size=12),
        }
    )
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def writers(
    base: str,
    keys: dict[str, str],
    events: Events,
    *,
    seconds: float,
    uploads: int,
    stop: threading.Event,
) -> None:
    """Queue retrains back to back and send ``uploads`` files evenly over ``seconds``."""
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    association = {"Authorization": f"Bearer {keys['association']}"}
    started = time.monotonic()
    next_upload = 0
    current_run: tuple[int, float] | None = None
    with httpx.Client(base_url=base, timeout=60) as http:
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if current_run is None and elapsed < seconds:
                answer = http.post("/api/v1/runs", headers=admin)
                if answer.status_code not in (200, 202):
                    events.errors.append(f"POST /runs: {answer.status_code} {answer.text[:200]}")
                else:
                    current_run = (int(answer.json()["id"]), time.monotonic())
            elif current_run is not None:
                run = http.get(f"/api/v1/runs/{current_run[0]}", headers=admin)
                if run.status_code != 200:
                    events.errors.append(f"GET /runs: {run.status_code} {run.text[:200]}")
                elif run.json()["status"] in ("succeeded", "failed"):
                    body = run.json()
                    events.runs.append(
                        {
                            "run": body["id"],
                            "status": body["status"],
                            "served": body["served"],
                            "seconds": round(time.monotonic() - current_run[1], 1),
                            "error": body["error"],
                        }
                    )
                    current_run = None
                    continue
            if next_upload < uploads and elapsed >= next_upload * seconds / uploads:
                content = hiring_file(next_upload)
                name = f"soak_hiring_{next_upload:03d}.csv"
                sends = 2 if (next_upload + 1) % RETRY_EVERY == 0 else 1
                for attempt in range(sends):
                    sent = time.perf_counter()
                    answer = http.post(
                        "/api/v1/uploads/hiring",
                        headers=association,
                        files={"file": (name, content, "text/csv")},
                    )
                    expected = 201 if attempt == 0 else 200
                    events.uploads.append(
                        {
                            "file": name,
                            "attempt": attempt + 1,
                            "status": answer.status_code,
                            "ms": round(1000 * (time.perf_counter() - sent), 1),
                            "rows": 12,
                        }
                    )
                    if answer.status_code != expected:
                        events.errors.append(
                            f"upload {name} attempt {attempt + 1}: {answer.status_code} "
                            f"(expected {expected}) {answer.text[:200]}"
                        )
                next_upload += 1
            if elapsed >= seconds and current_run is None and next_upload >= uploads:
                return
            stop.wait(0.5)


def check_store(url: str, events: Events) -> dict[str, object]:
    """How the store holds the soak's uploads and runs afterwards."""
    from data.ingest import open_store

    store = open_store(url)
    try:
        mine = [u for u in store.uploads() if u.uploader == ASSOCIATION_KEY]
        names = pd.Series([u.filename for u in mine])
        sent = {str(u["file"]) for u in events.uploads}
        running = [r.id for r in store.runs(status="running")]
    finally:
        store.dispose()
    return {
        "files sent": len(sent),
        "upload requests": len(events.uploads),
        "stored uploads": len(mine),
        "stored more than once": int((names.value_counts() > 1).sum()),
        "sent but not stored": len(sent - set(names)),
        "rows as sent": all(u.row_count == 12 for u in mine),
        "runs left running": len(running),
    }


def per_minute(answered: np.ndarray, latencies_ms: np.ndarray, start: float) -> pd.DataFrame:
    minute = ((answered - start) // 60).astype(int)
    rows = []
    for index in sorted(set(minute)):
        chosen = latencies_ms[minute == index]
        p50, p95, p99 = np.percentile(chosen, [50, 95, 99])
        rows.append(
            {
                "minute": index + 1,
                "reads": len(chosen),
                "req/s": round(len(chosen) / 60, 1),
                "p50 ms": round(p50, 2),
                "p95 ms": round(p95, 2),
                "p99 ms": round(p99, 2),
                "max ms": round(float(chosen.max()), 1),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=600.0, help="Length of the soak.")
    parser.add_argument(
        "--quiet-seconds",
        type=float,
        default=60.0,
        help="Length of the baseline phase before the soak: the same reads, nothing else.",
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="Server processes.")
    add_postgres_option(parser)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="soak_") as folder:
        if args.backend == "sqlite":
            url = sqlite_url(False, Path(folder))
        else:
            url = postgres_url(args.postgres_url, False)
        prepared = prepare(args.backend, url, reuse=False)
        keys = {
            "admin": issue_key(url, ADMIN_KEY, "admin"),
            "association": issue_key(url, ASSOCIATION_KEY, "association", "ic"),
        }
        urls = [u for name in ENDPOINTS for u in prepared.urls[name]]
        events = Events()
        stop = threading.Event()
        log = Path(folder) / "server.log"
        with running_server(url, args.workers, log, run_worker=True) as (port, _pid):
            base = f"http://{HOST}:{port}"
            thread = threading.Thread(
                target=writers,
                args=(base, keys, events),
                kwargs={"seconds": args.seconds, "uploads": args.uploads, "stop": stop},
                daemon=True,
            )
            requests = encode_requests(port, urls, prepared.key)
            print(f"quiet reads {args.quiet_seconds:.0f} s at {args.clients} clients ...")
            quiet, quiet_elapsed = asyncio.run(
                run_phase(port, requests, args.clients, limit=10**9, seconds=args.quiet_seconds)
            )
            print(f"soaking {args.seconds:.0f} s at {args.clients} clients ...", flush=True)
            phase, elapsed = asyncio.run(
                run_phase(
                    port,
                    requests,
                    args.clients,
                    limit=10**9,
                    seconds=args.seconds,
                    on_start=thread.start,
                )
            )
            # The last retrain may still be running: wait for it (not measured), so that
            # every run is seen to finish.
            thread.join(timeout=900)
            stop.set()
            server_log = log.read_text(errors="replace")
        stored = check_store(url, events)

    latencies = np.array(phase.latencies) * 1000
    answered = np.array(phase.answered)
    minutes = per_minute(answered, latencies, phase.started)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    quiet_p50, quiet_p99 = np.percentile(np.array(quiet.latencies) * 1000, [50, 99])
    quiet_rate = len(quiet.latencies) / quiet_elapsed
    uploads = pd.DataFrame(events.uploads)
    runs = pd.DataFrame(events.runs)
    once = (
        stored["stored uploads"] == stored["files sent"] == args.uploads
        and stored["stored more than once"] == 0
        and stored["sent but not stored"] == 0
        and stored["rows as sent"]
    )
    succeeded = int((runs["status"] == "succeeded").sum()) if len(runs) else 0
    summary = pd.DataFrame(
        [
            {
                "seconds": round(elapsed, 1),
                "clients": args.clients,
                "reads": len(latencies),
                "req/s": round(len(latencies) / elapsed, 1),
                "p50 ms": round(p50, 2),
                "p95 ms": round(p95, 2),
                "p99 ms": round(p99, 2),
                "quiet req/s": round(quiet_rate, 1),
                "quiet p50 ms": round(quiet_p50, 2),
                "quiet p99 ms": round(quiet_p99, 2),
                "p99 vs quiet": round(p99 / quiet_p99, 2),
                "read errors": phase.errors + quiet.errors,
                "writer errors": len(events.errors),
                "retrains finished": len(runs),
                "retrains succeeded": succeeded,
                "uploads stored once": "yes" if once else "no",
                "p99 target met": "yes" if p99 < TARGET_P99_MS else "no",
            }
        ]
    )
    tables = {
        f"{args.backend}: summary": summary,
        "reads per minute": minutes,
        "retrains": runs,
        "store after the soak": pd.DataFrame([stored]),
        "upload latency (ms)": uploads.groupby("attempt")["ms"]
        .describe(percentiles=[0.5, 0.95])
        .round(1)
        .reset_index()
        if len(uploads)
        else pd.DataFrame(),
    }
    for title, table in tables.items():
        print(f"\n{title}\n{table.to_markdown(index=False)}")
    for error in [*quiet.first_errors, *phase.first_errors, *events.errors[:10]]:
        print("error:", error)
    if "Traceback" in server_log:
        print("the server logged a traceback:\n", server_log[-3000:])
    if not args.no_record:
        notes = (
            f"`talentcast serve --workers {args.workers}` with its run worker (training at nice "
            f"10 in its own process), {args.backend}; {args.clients} keep-alive clients reading "
            f"/shortages, /balance and /forecasts ({len(urls)} distinct URLs) for "
            f"{args.seconds:.0f} s while an admin queues full default retrains back to back and "
            f"an association sends {args.uploads} hiring files (every {RETRY_EVERY}th twice); "
            f"client, server and training share the 2 cores. Result: {phase.errors} read "
            f"errors, {len(events.errors)} writer errors, p99 {p99:.1f} ms "
            f"(target < {TARGET_P99_MS:.0f} ms: {'met' if p99 < TARGET_P99_MS else 'not met'}), "
            f"uploads stored exactly once: {'yes' if once else 'no'}, "
            f"p99 {p99 / quiet_p99:.2f}× that of the same reads with nothing else running "
            f"({quiet_p99:.1f} ms over {args.quiet_seconds:.0f} s before the soak), "
            f"{len(runs)} retrains finished"
        )
        print("recorded in", record("soak", command_line(), tables, notes))


if __name__ == "__main__":
    main()
