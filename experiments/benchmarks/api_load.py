"""Throughput and latency of the API's main reads under concurrent clients, against a real server.

For each store backend (SQLite, PostgreSQL) the script prepares a trained demo store, starts
``talentcast serve`` on a free localhost port as a subprocess (``--workers`` processes, the run
worker off) and measures ``GET /api/v1/shortages``, ``/api/v1/balance`` and ``/api/v1/forecasts``
at 1, 8 and 32 concurrent clients: requests per second and the 50th, 95th and 99th percentile of
the latency each client sees. ``/healthz`` (no key, no data) at 32 clients is measured in the
same run as a baseline: the ratio to it says how much of the server's capacity the route's own
work (key check, run lookup, filtering, rendering) takes beyond the HTTP stack itself.

Each phase first warms up (every client sends every URL of the route once, at most 10 s, so
that each server worker has every page in its cache whichever connections it accepted), then
runs until ``--requests`` requests (a fifth of that at one client) or ``--seconds`` seconds,
whichever comes first, on the same connections. Queries vary from request to request the way a
dashboard's do (every field × level for ``/balance``, every forecast year × level for
``/shortages``, every field of the field-level series kinds for ``/forecasts``), so a phase is
not one cached URL; the server does keep each rendered page per run and query (and per caller
scope), which is part of its design, and the tables say how many distinct URLs each route saw.

The client is cheap on purpose, because it shares the machine's cores with the server: plain
asyncio with one keep-alive HTTP/1.1 connection per concurrent client, each request written by
hand with its ``Authorization: Bearer`` header and its answer read by ``Content-Length``. Any
answer other than 200 (or a broken connection) counts as an error; there must be none. Clients
connect 5 ms apart (all at once, one worker's accept loop would take every connection); the
tables show how the connections ended up spread over the workers.

The CPU columns are CPU seconds per request: of the server's processes, of the PostgreSQL
backends serving the benchmark database (SQLite runs inside the server) and of the client; and
the share of the machine that other programs used during the phase. On a shared machine that
share should be near 0: before each phase the script waits (``--quiet-wait``, 60 s at most)
until the machine is at most 15% busy.

Target (for these reads, on two cores): p99 under 50 ms at 32 concurrent clients and at least
500 requests per second.

    python experiments/benchmarks/api_load.py                       # both backends, recorded
    python experiments/benchmarks/api_load.py --backends sqlite --no-record --seconds 5
    python experiments/benchmarks/api_load.py --reuse               # keep/reuse prepared stores

Without ``--reuse`` the SQLite store is prepared in a temporary folder and the PostgreSQL store
in a freshly created database ``talentcast_bench`` (``--postgres-url`` names the server); with
it, the SQLite store lives at ``var/bench/api_load.db`` and both are trained only if they have
no served run yet. Training uses the demo's full horizon (10 years, so the served tables have
their full size) with 200 joint samples and a lighter quota search, which changes nothing the
measured routes read.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import sqlalchemy as sa

from experiments.benchmarks.recording import command_line, record

ROOT: Final = Path(__file__).resolve().parents[2]
TALENTCAST: Final = Path(sys.executable).parent / "talentcast"
HOST: Final = "127.0.0.1"
BENCH_DATABASE: Final = "talentcast_bench"
REUSED_SQLITE: Final = ROOT / "var" / "bench" / "api_load.db"
KEY_NAME: Final = "bench-planner"
CONCURRENCY: Final = (1, 8, 32)
ENDPOINTS: Final = ("shortages", "balance", "forecasts")
BASELINE: Final = "healthz"
#: The target of the issue, at the highest concurrency.
TARGET_P99_MS: Final = 50.0
TARGET_RPS: Final = 500.0
#: Clients connect this many seconds apart: all at the same instant, the first server worker to
#: wake up would accept every connection (asyncio accepts all pending ones at once) and leave the
#: other worker idle, which real clients arriving over time do not do.
CONNECT_SPACING: Final = 0.005
#: Longest warm-up of a phase (every client sends every URL of the route once).
WARMUP_SECONDS: Final = 10.0


# -- preparing a store --------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A trained store ready to serve: its URL, the served run, a planner's key and the URLs."""

    backend: str
    url: str
    run_id: int
    key: str
    urls: dict[str, list[str]]
    prepared_seconds: float
    reused: bool


def sqlite_url(reuse: bool, folder: Path) -> str:
    path = REUSED_SQLITE if reuse else folder / "api_load.db"
    return f"sqlite:///{path}"


def postgres_url(server: str, reuse: bool) -> str:
    """The benchmark's own database on ``server`` (created if absent, recreated unless reused),
    so that the tests' database is never touched."""
    import psycopg

    admin = sa.engine.make_url(server).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DATABASE,)
        ).fetchone()
        if exists and not reuse:
            conn.execute(f"DROP DATABASE {BENCH_DATABASE} WITH (FORCE)")
            exists = None
        if not exists:
            conn.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    url = sa.engine.make_url(server).set(database=BENCH_DATABASE)
    return url.render_as_string(hide_password=False)


def prepare(backend: str, url: str, reuse: bool) -> Prepared:
    """Load and train the demo unless ``reuse`` finds a served run on these data already; issue
    a fresh planner key (the previous benchmark key is revoked) and list the URLs to request."""
    from data.demo import load_demo
    from data.ingest import open_store
    from forecasting.pipeline import TrainingConfig, train
    from forecasting.quotas import QuotaSettings
    from forecasting.settings import BalanceSettings

    started = time.perf_counter()
    store = open_store(url)
    try:
        served = store.served_run() if reuse else None
        reused = served is not None
        if served is None:
            load_demo(store)
            config = TrainingConfig(
                balance=BalanceSettings(horizon=10, n_samples=200, n_jobs=2),
                quotas=QuotaSettings(scenarios=50, resamples=2),
                balance_backtest_cuts=0,
            )
            print(f"[{backend}] training the demo (10 years, 200 samples) ...", flush=True)
            served = train(store, config).run
        revoke = KEY_NAME in {record.name for record in store.keys(include_revoked=False)}
        urls = request_urls(store, served.id, int(served.metrics["first_forecast_year"]))
    finally:
        store.dispose()
    key = planner_key(url, revoke_first=revoke)
    seconds = time.perf_counter() - started
    return Prepared(backend, url, served.id, key, urls, seconds, reused)


def planner_key(url: str, *, revoke_first: bool) -> str:
    """A fresh planner key, issued the way an admin does (``talentcast keys create``): the
    benchmark drives the product from outside, like its users."""
    command = [str(TALENTCAST), "--database-url", url, "keys"]
    if revoke_first:
        subprocess.run([*command, "revoke", KEY_NAME], check=True, capture_output=True)
    created = subprocess.run(
        [*command, "create", KEY_NAME, "--role", "planner"],
        check=True,
        capture_output=True,
        text=True,
    )
    return created.stdout.strip().splitlines()[-1]


def request_urls(store: object, run_id: int, first_year: int) -> dict[str, list[str]]:
    """The queries of each route, taken from what the run holds so that every one has rows."""
    from data.store import Store
    from data.vocabulary import ALL_LEVELS, LEVELS

    assert isinstance(store, Store)
    balance = store.run_output(run_id, "balance")
    forecasts = store.run_output(run_id, "forecasts")
    levels = [*LEVELS, ALL_LEVELS]
    fields = sorted(set(balance["field_code"]))  # the priority fields and the total, "all"
    years = sorted(int(year) for year in set(balance["year"]) if year >= first_year)
    by_field = forecasts.dropna(subset=["field_code"])
    kinds = sorted(set(by_field["kind"]))
    api = "/api/v1"
    return {
        "shortages": [f"{api}/shortages?year={y}&level={lv}" for y in years for lv in levels],
        "balance": [f"{api}/balance?field={f}&level={lv}" for f in fields for lv in levels],
        "forecasts": [
            f"{api}/forecasts?kind={kind}&field={f}&limit=100"
            for kind in kinds
            for f in sorted(set(by_field.loc[by_field["kind"] == kind, "field_code"]))
        ],
    }


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def running_server(
    url: str, workers: int, log: Path, *, run_worker: bool = False
) -> Iterator[tuple[int, int]]:
    """``talentcast serve`` in a subprocess until the block ends (also on errors): yields its
    port and process id once ``/readyz`` answers with a served run. With ``run_worker`` it
    starts its ``talentcast worker`` too, which executes runs queued with ``POST /runs``."""
    port = free_port()
    env = {**os.environ, "TALENTCAST_RUN_WORKER": str(run_worker).lower()}
    command = [str(TALENTCAST), "--database-url", url, "serve"]
    command += ["--host", HOST, "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as output:
        # Its own session, so that the workers it spawns can be stopped with it.
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            wait_ready(server, port, log)
            yield port, server.pid
        finally:
            stop(server)


def wait_ready(server: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=2) as answer:
                if json.load(answer).get("served_run") is not None:
                    return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready within {timeout:.0f} s:\n{log.read_text()}")


def stop(server: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Terminate the server (uvicorn stops its workers), then kill its process group."""
    if server.poll() is None:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)  # leftover workers, if any: same group
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(5)


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> set[int]:
    found, pending = {pid}, [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError, ValueError):
            for task in Path(f"/proc/{current}/task").iterdir():
                children = {int(child) for child in (task / "children").read_text().split()}
                pending += sorted(children - found)
                found |= children
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def connections_per_worker(server_pid: int, port: int) -> list[int]:
    """Established connections to ``port`` held by each worker process of the server (those
    with none included), largest first."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "01":
                    inodes.add(f"socket:[{parts[9]}]")
    workers = [
        pid
        for pid in _descendants(server_pid) - {server_pid}
        if b"spawn_main" in _cmdline(pid)  # not the multiprocessing resource tracker
    ]
    counts = []
    for pid in workers or [server_pid]:  # one worker: uvicorn serves in its main process
        held = 0
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    held += os.readlink(fd) in inodes
        counts.append(held)
    return sorted(counts, reverse=True)


def machine_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine (all cores) so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / ticks, sum(values) / ticks


@dataclass(frozen=True)
class CpuMeter:
    """Where the CPU goes during a phase: the server (its process tree), the database server's
    backends serving the benchmark database (PostgreSQL only: SQLite runs inside the server),
    this client, and everything else on the machine."""

    server_pid: int
    database_url: str | None

    def _backends(self) -> set[int]:
        if self.database_url is None:
            return set()
        import psycopg

        url = sa.engine.make_url(self.database_url).set(drivername="postgresql")
        with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as c:
            rows = c.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            ).fetchall()
        return {int(row[0]) for row in rows}

    def snapshot(self) -> CpuSnapshot:
        return CpuSnapshot(
            {pid: _cpu_of(pid) for pid in _descendants(self.server_pid)},
            {pid: _cpu_of(pid) for pid in self._backends()},
            time.process_time(),
            machine_seconds(),
        )

    def since(self, before: CpuSnapshot) -> dict[str, float]:
        """CPU seconds of each part since ``before``, and the machine's capacity in that time."""
        after = self.snapshot()
        server = sum(cpu - before.server.get(pid, 0.0) for pid, cpu in after.server.items())
        database = sum(cpu - before.database.get(pid, 0.0) for pid, cpu in after.database.items())
        client = after.client - before.client
        busy = after.machine[0] - before.machine[0]
        return {
            "server": server,
            "database": database,
            "client": client,
            "others": max(busy - server - database - client, 0.0),
            "capacity": max(after.machine[1] - before.machine[1], 1e-9),
        }


@dataclass(frozen=True)
class CpuSnapshot:
    server: dict[int, float]
    database: dict[int, float]
    client: float
    machine: tuple[float, float]


def wait_until_quiet(limit: float, threshold: float = 0.15) -> float:
    """Wait (up to ``limit`` seconds) until the machine is at most ``threshold`` busy over a
    second, so that other work on a shared machine does not land in a phase; the busy share."""
    deadline = time.monotonic() + limit
    while True:
        busy0, total0 = machine_seconds()
        time.sleep(1.0)
        busy1, total1 = machine_seconds()
        share = (busy1 - busy0) / max(total1 - total0, 1e-9)
        if share <= threshold or time.monotonic() >= deadline:
            return share


# -- the client ---------------------------------------------------------------------------------


@dataclass
class Phase:
    """Shared state of one phase: the warm-up, which request comes next and what was seen.

    Each client first sends every URL once on its own connection (from its own starting point,
    until ``warm_deadline``), so that every server worker has rendered every page once whichever
    connections it accepted; when the last client is done, ``on_start`` runs and the measured
    part begins on the same connections.
    """

    requests: list[bytes]
    clients: int
    limit: int
    seconds: float
    warm_deadline: float
    on_start: Callable[[], None]
    go: asyncio.Event = field(default_factory=asyncio.Event)
    started: float = 0.0
    deadline: float = 0.0
    arrived: int = 0
    issued: int = 0
    latencies: list[float] = field(default_factory=list)
    #: When each measured answer arrived (perf_counter), in the order of ``latencies``.
    answered: list[float] = field(default_factory=list)
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)

    async def warmed_up(self) -> None:
        """Wait until every client has warmed up; the last one to arrive starts the clock."""
        self.arrived += 1
        if self.arrived == self.clients:
            self.on_start()
            self.started = time.perf_counter()
            self.deadline = self.started + self.seconds
            self.go.set()
        await self.go.wait()

    def take(self) -> bytes | None:
        """The next request to send, or None once the phase has sent enough or run long enough."""
        if self.issued >= self.limit or time.perf_counter() >= self.deadline:
            return None
        request = self.requests[self.issued % len(self.requests)]
        self.issued += 1
        return request

    def failed(self, what: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(what)


def encode_requests(port: int, urls: list[str], key: str | None) -> list[bytes]:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return [
        (
            f"GET {url} HTTP/1.1\r\nHost: {HOST}:{port}\r\n{auth}"
            "Accept: application/json\r\nUser-Agent: api_load\r\n\r\n"
        ).encode("ascii")
        for url in urls
    ]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server will close the connection, of one answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    headers: dict[bytes, bytes] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # the empty trailer
        body = b"".join(parts)
    else:
        body = await reader.read()
    return status, body, headers.get(b"connection", b"").lower() == b"close"


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def exchange(
    port: int, connection: Connection | None, request: bytes, phase: Phase, measured: bool
) -> Connection | None:
    """Send one request and read its answer (opening a connection if needed); the connection
    to use next (None if it broke or the server closes it)."""
    started = time.perf_counter()
    try:
        if connection is None:
            connection = await asyncio.open_connection(HOST, port)
        reader, writer = connection
        writer.write(request)
        status, body, closing = await read_response(reader)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
        phase.failed(f"{type(error).__name__}: {error}")
        if connection is not None:
            connection[1].close()
        return None
    if measured:
        now = time.perf_counter()
        phase.latencies.append(now - started)
        phase.answered.append(now)
    if status != 200:
        phase.failed(f"{status}: {body[:200]!r}")
    if closing:
        connection[1].close()
        return None
    return connection


async def client(port: int, phase: Phase, index: int) -> None:
    """One keep-alive connection: the warm-up, then one request after the other until the
    phase ends."""
    connection: Connection | None = None
    await asyncio.sleep(index * CONNECT_SPACING)
    try:
        count = len(phase.requests)
        for step in range(count):
            if time.perf_counter() >= phase.warm_deadline:
                break
            warm = phase.requests[(index + step) % count]
            connection = await exchange(port, connection, warm, phase, measured=False)
        await phase.warmed_up()
        while (request := phase.take()) is not None:
            connection = await exchange(port, connection, request, phase, measured=True)
    finally:
        if connection is not None:
            connection[1].close()


async def run_phase(
    port: int,
    requests: list[bytes],
    clients: int,
    *,
    limit: int,
    seconds: float,
    on_start: Callable[[], None] = lambda: None,
) -> tuple[Phase, float]:
    """Warm up, then run ``clients`` clients until ``limit`` requests or ``seconds``;
    the phase and the seconds its measured part took."""
    warm_deadline = time.perf_counter() + WARMUP_SECONDS
    phase = Phase(requests, clients, limit, seconds, warm_deadline, on_start)
    await asyncio.gather(*(client(port, phase, index) for index in range(clients)))
    return phase, time.perf_counter() - phase.started


@dataclass(frozen=True)
class Measured:
    endpoint: str
    clients: int
    distinct_urls: int
    requests: int
    seconds: float
    errors: int
    latencies_ms: np.ndarray
    cpu: dict[str, float]
    connections: list[int]
    first_errors: list[str]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def row(self, baseline_rps: float | None) -> dict[str, object]:
        p50, p95, p99 = np.percentile(self.latencies_ms, [50, 95, 99])
        per_request = 1000 / max(self.requests, 1)
        row: dict[str, object] = {
            "endpoint": f"/{self.endpoint}",
            "clients": self.clients,
            "distinct URLs": self.distinct_urls,
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "req/s": round(self.rps, 1),
            "p50 ms": round(p50, 2),
            "p95 ms": round(p95, 2),
            "p99 ms": round(p99, 2),
            "errors": self.errors,
            "connections per worker": "+".join(str(n) for n in self.connections),
            "vs /healthz": round(self.rps / baseline_rps, 2) if baseline_rps else None,
            "server CPU ms/req": round(self.cpu["server"] * per_request, 2),
            "database CPU ms/req": round(self.cpu["database"] * per_request, 2),
            "client CPU ms/req": round(self.cpu["client"] * per_request, 2),
            "others' CPU %": round(100 * self.cpu["others"] / self.cpu["capacity"]),
        }
        at_top = self.clients == max(CONCURRENCY) and self.endpoint != BASELINE
        met = p99 < TARGET_P99_MS and self.rps >= TARGET_RPS
        row["target met"] = ("yes" if met else "no") if at_top else ""
        return row


def measure(
    server: tuple[int, int],
    meter: CpuMeter,
    endpoint: str,
    urls: list[str],
    key: str | None,
    *,
    clients: int,
    limit: int,
    seconds: float,
) -> Measured:
    """One phase against the server ``(port, pid)``, after a warm-up with the same clients."""
    port, pid = server
    requests = encode_requests(port, urls, key)
    before: list[CpuSnapshot] = []
    connections: list[int] = []

    def on_start() -> None:
        connections.extend(connections_per_worker(pid, port))
        before.append(meter.snapshot())

    phase, elapsed = asyncio.run(
        run_phase(port, requests, clients, limit=limit, seconds=seconds, on_start=on_start)
    )
    return Measured(
        endpoint,
        clients,
        len(urls),
        phase.issued,
        elapsed,
        phase.errors,
        np.array(phase.latencies) * 1000,
        meter.since(before[0]),
        connections,
        phase.first_errors,
    )


def bench_backend(prepared: Prepared, args: argparse.Namespace, log: Path) -> pd.DataFrame:
    results: list[Measured] = []
    with running_server(prepared.url, args.workers, log) as server:
        print(f"[{prepared.backend}] server on port {server[0]} ({args.workers} workers)")
        meter = CpuMeter(server[1], prepared.url if prepared.backend == "postgresql" else None)
        top = max(CONCURRENCY)
        phases = [(BASELINE, top)] + [
            (name, clients) for name in ENDPOINTS for clients in CONCURRENCY
        ]
        baseline_rps: float | None = None
        for endpoint, clients in phases:
            busy = wait_until_quiet(args.quiet_wait)
            if busy > 0.15:
                print(f"    the machine is still {busy:.0%} busy with other work", flush=True)
            limit = args.requests if clients > 1 else max(args.requests // 5, 1)
            urls, key = (
                ([f"/{BASELINE}"], None)
                if endpoint == BASELINE
                else (prepared.urls[endpoint], prepared.key)
            )
            result = measure(
                server, meter, endpoint, urls, key, clients=clients, limit=limit,
                seconds=args.seconds,
            )  # fmt: skip
            results.append(result)
            baseline_rps = baseline_rps or result.rps
            p99 = np.percentile(result.latencies_ms, 99)
            print(
                f"[{prepared.backend}] /{endpoint} x{clients}: {result.rps:.0f} req/s, "
                f"p99 {p99:.1f} ms, {result.errors} errors",
                flush=True,
            )
            for error in result.first_errors:
                print(f"    {error}", flush=True)
    return pd.DataFrame([result.row(baseline_rps) for result in results])


def idle_wait_caveat(table: pd.DataFrame) -> str:
    """A note when requests at one client take far longer than the server's CPU time for them:
    the time is spent waiting, not working. A wait of about 40 ms per keep-alive request is
    Nagle's algorithm meeting the client's delayed ACK: the server writes the headers and the
    body of an answer separately on a connection without ``TCP_NODELAY``, which uvicorn leaves
    off on connections accepted by ``--workers`` > 1 worker processes (uvicorn issue #3149)."""
    single = table[(table["clients"] == 1) & (table["endpoint"] != f"/{BASELINE}")]
    if single.empty:
        return ""
    waiting = float((single["p50 ms"] - single["server CPU ms/req"]).median())
    if waiting < 20:
        return ""
    return (
        f" (at 1 client a request waits ~{waiting:.0f} ms with the server idle: the signature of "
        "Nagle's algorithm meeting delayed ACKs, i.e. TCP_NODELAY off on the server's "
        "connections, which uvicorn does with --workers > 1, uvicorn issue #3149; this floor, "
        "not CPU, bounds latency and throughput here)"
    )


def add_postgres_option(parser: argparse.ArgumentParser) -> None:
    """``--postgres-url``: the server whose own benchmark database (:func:`postgres_url`) is
    used."""
    parser.add_argument(
        "--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test",
        help="PostgreSQL server; the benchmark uses its own database on it.",
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help="Comma-separated.")
    parser.add_argument("--workers", type=int, default=2, help="Server processes (default 2).")
    parser.add_argument("--requests", type=int, default=3000, help="Per phase (a fifth at 1).")
    parser.add_argument("--seconds", type=float, default=20.0, help="Longest phase, seconds.")
    parser.add_argument("--reuse", action="store_true", help="Reuse prepared stores if trained.")
    parser.add_argument(
        "--quiet-wait", type=float, default=60.0,
        help="Before each phase, wait up to this many seconds for other work to calm down.",
    )  # fmt: skip
    add_postgres_option(parser)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")

    tables: dict[str, pd.DataFrame] = {}
    described: list[str] = []
    distinct = ""
    with tempfile.TemporaryDirectory(prefix="api_load_") as folder:
        for backend in backends:
            if backend == "sqlite":
                url = sqlite_url(args.reuse, Path(folder))
            else:
                url = postgres_url(args.postgres_url, args.reuse)
            prepared = prepare(backend, url, args.reuse)
            state = "reused" if prepared.reused else "prepared"
            print(
                f"[{backend}] {state} run #{prepared.run_id} in {prepared.prepared_seconds:.0f} s",
                flush=True,
            )
            table = bench_backend(prepared, args, Path(folder) / f"server-{backend}.log")
            title = f"{backend}: {args.workers} server workers, run #{prepared.run_id}"
            tables[title] = table
            print(f"\n{title}\n{table.to_markdown(index=False)}\n", flush=True)
            top = table[(table["clients"] == max(CONCURRENCY)) & (table["target met"] != "")]
            described.append(
                f"{backend}: target (p99 < {TARGET_P99_MS:.0f} ms and ≥ {TARGET_RPS:.0f} req/s "
                f"at {max(CONCURRENCY)} clients) met by {(top['target met'] == 'yes').sum()} of "
                f"{len(top)} routes; errors {int(table['errors'].sum())}" + idle_wait_caveat(table)
            )
            distinct = ", ".join(f"/{name} {len(prepared.urls[name])}" for name in ENDPOINTS)
    print("\n".join(described))
    if not args.no_record and tables:
        notes = (
            f"`talentcast serve --workers {args.workers}` (uvicorn with h11 and TCP_NODELAY on "
            f"every connection, serving.http; asyncio event loop), run worker off; demo data "
            f"trained with horizon 10, 200 joint samples, "
            f"quota search 50 scenarios × 2 resamples (the routes read the same tables as with "
            f"the full settings); per phase up to {args.requests} requests ({args.requests // 5} "
            f"at 1 client) or {args.seconds:g} s, after a warm-up in which every client sends "
            f"every URL once (≤ {WARMUP_SECONDS:g} s); "
            f"distinct URLs per route: {distinct} (each worker caches every rendered page); "
            "one planner key; client and server share the 2 cores (the client is a single "
            "asyncio process with raw keep-alive HTTP/1.1 connections, its CPU per request is "
            "in the table), so the server has somewhat less than 2 cores; database CPU is that "
            "of the PostgreSQL backends serving the benchmark (SQLite runs inside the server). "
            + "; ".join(described)
        )
        print("recorded in", record("api_load", command_line(), tables, notes))


if __name__ == "__main__":
    main()
