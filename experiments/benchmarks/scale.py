"""Wall time and peak memory of a retrain as the deployment grows from one city to many.

For each city count N (``--cities``, default 1 2 4) a fresh SQLite store gets
``experiments.national.national_demo(N, seed)`` — N perturbed copies of the demo, the cities of
one province — and one retrain runs on it, once on local worker processes and once on a local
Dask cluster of the same size (``--executors``). Recorded per run: observed series (one per
region, kind and key; the engines forecast these and the aggregates of some kinds), wall time,
milliseconds per series, the peak resident memory of the training process alone and of the
process tree (the training process with its worker processes or Dask workers), sampled every 0.2 s.

Two numbers answer whether the design scales: the growth exponent b of time ∝ series^b
(least squares on the logs; 1 is linear, time per series constant) and whether the training
process's peak grows with N — a province run keeps one city's samples in memory at a time, so
it should not.

The default configuration is the production one except where noted in ``--samples``,
``--horizon`` and ``--cuts`` (defaults 1,000, 10 and 3: the demo's own); on a two-core machine a
city costs a demo retrain's time, so 16 and 64 cities take hours and are best run overnight
(``--cities 16 64``).

    python experiments/benchmarks/scale.py --jobs 2
    python experiments/benchmarks/scale.py --jobs 2 --cities 1 4 16 64 --executors processes dask
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from data.ingest import open_store
from experiments.benchmarks.recording import command_line, record
from experiments.national import NationalDemo, load_national, national_demo
from forecasting.executors import EXECUTORS, spawned_pool
from forecasting.pipeline import TrainingConfig, train
from forecasting.settings import BalanceSettings

MIB = 1024 * 1024


@dataclass
class PeakMemory:
    """Peak resident memory of this process and of its whole process tree, sampled."""

    interval: float = 0.2
    own: int = 0
    tree: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        process = psutil.Process()
        own = process.memory_info().rss
        tree = own
        for child in process.children(recursive=True):
            try:
                tree += child.memory_info().rss
            except psutil.Error:  # a worker that ended between listing and reading
                continue
        self.own = max(self.own, own)
        self.tree = max(self.tree, tree)

    @contextmanager
    def watching(self) -> Iterator[PeakMemory]:
        def loop() -> None:
            while not self._stop.wait(self.interval):
                self.sample()

        thread = threading.Thread(target=loop, name="peak-memory", daemon=True)
        self.sample()
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self.sample()


def growth_exponent(series: Sequence[float], seconds: Sequence[float]) -> float:
    """b of seconds ∝ series^b, least squares on the logs (NaN with fewer than two sizes)."""
    x = np.log(np.asarray(series, dtype=float))
    y = np.log(np.asarray(seconds, dtype=float))
    if len(np.unique(x)) < 2:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


@dataclass(frozen=True)
class Prepared:
    """A store holding N cities, and what the benchmark needs to know of them."""

    series: int
    top: str
    regions: tuple[str, ...]
    single: bool


def prepare(cities: int, seed: int, url: str) -> Prepared:
    """Generate the N cities and load them into the store at ``url``. Run in a process of its
    own: the generated observations of every city would otherwise stay in the training
    process and count in its peak memory, which must measure the run alone."""
    demo = national_demo(cities, seed)
    store = open_store(url)
    try:
        load_national(store, demo)
    finally:
        store.dispose()
    plan = demo.plan
    return Prepared(observed_series(demo), plan.top, tuple(plan.regions), plan.single)


def retrain(cities: int, executor: str, args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'store.db'}"
        with spawned_pool(1) as pool:
            prepared = pool.submit(prepare, cities, args.seed, url).result()
        store = open_store(url)
        try:
            balance = BalanceSettings(
                n_jobs=args.jobs,
                executor=executor,
                n_samples=args.samples,
                horizon=args.horizon,
            )
            config = TrainingConfig(
                balance=balance,
                balance_backtest_cuts=args.cuts,
                regions=() if prepared.single else prepared.regions,
            )
            peak = PeakMemory()
            started = time.perf_counter()
            with peak.watching():
                result = train(store, config, city_region=prepared.top)
            seconds = time.perf_counter() - started
        finally:
            store.dispose()
    series = prepared.series
    return {
        "cities": cities,
        "executor": executor,
        "series": series,
        "seconds": round(seconds, 1),
        "ms/series": round(1000 * seconds / series, 1),
        "peak MiB (training process)": round(peak.own / MIB),
        "peak MiB (with workers)": round(peak.tree / MIB),
        "served": result.promoted,
        # Why not, when not: the gates that failed (a benchmark run is trained like any other).
        "failed gates": ", ".join(
            check["name"] for check in result.run.metrics["gates"]["checks"] if not check["passed"]
        ),
    }


def observed_series(demo: NationalDemo) -> int:
    """Observed series of a national demo: one per region, kind and key (programme or field,
    level, and the association for surveys) — what the run's engines forecast, up to the
    aggregations each kind adds."""
    total = 0
    for frame in demo.observations.values():
        keys = [
            column
            for column in ("region", "programme_code", "field_code", "level", "source")
            if column in frame.columns
        ]
        total += int(frame[keys].drop_duplicates().shape[0])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cities", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--executors", nargs="+", choices=EXECUTORS, default=list(EXECUTORS))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--cuts", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    rows = []
    for executor in args.executors:
        for cities in args.cities:
            row = retrain(cities, executor, args)
            print(row, flush=True)
            rows.append(row)
    table = pd.DataFrame(rows)
    notes = [
        f"{args.jobs} workers; {args.samples} samples, horizon {args.horizon}, "
        f"{args.cuts} backtest cuts; seed {args.seed}"
    ]
    for executor, part in table.groupby("executor", sort=False):
        b = growth_exponent(part["series"], part["seconds"])
        own = part["peak MiB (training process)"]
        notes.append(
            f"{executor}: time ∝ series^{b:.2f}; training-process peak "
            f"{own.min()}-{own.max()} MiB over {part['cities'].min()}-{part['cities'].max()} "
            "cities"
        )
    print(table.to_markdown(index=False))
    print("\n".join(notes))
    if not args.no_record:
        tables = {"Retrain by number of cities": table}
        print("recorded in", record("scale", command_line(), tables, "; ".join(notes)))


if __name__ == "__main__":
    main()
