"""What moved since the served run, what moved it, and whether a planner should see it unseen.

A retrain can swing a field from "certainly short" to "certainly not" for good reasons (a
year of new data) or bad ones (a handful of survey rows far off everything else). Every new
run is therefore compared with the run being served, cell by cell (field × level × year, the
forecast years of both): a cell *moved* when its P(shortage) changed by more than
``p_threshold`` or its median gap by more than ``gap_share`` of the served median supply (and
at least ``gap_min`` persons).

Moves are attributed two ways:

- **by driver** (always, free): which part of the gap's breakdown (base gap, demand growth,
  survey adjustment, cohort pipeline, rates) changed most between the two runs' drivers;
- **by upload** (leave-one-upload-out): when at most ``max_uploads`` uploads arrived since the
  served run's watermark, the balance is computed again without each of them (the store read
  as if that upload had never been made, :meth:`Store.observations` with ``exclude``), and,
  if several of them are small, without all small ones together (two low surveys that each
  supersede the other's cells only show together). An upload *explains* a move when leaving
  it out undoes at least ``explained_share`` of it.

Cost: one balance (supply and demand) at ``samples`` joint samples per left-out set — seconds
for a small city, tens of seconds on the demo — at most ``max_uploads`` + 1 sets, and no new
set is started after ``max_seconds``. Nothing is recomputed when nothing moved.

In a run of several regions (the cities of a province) each city is compared with the served
run's rows of that city (:class:`RegionChanges`); an upload is left out only for the cities it
has rows in and counts there by those rows, and the run is held when any city is.

The change gate (``Gates.change_gate``) refuses to serve a run whose moves are explained by
uploads of few rows (fewer than ``few_rows``, or less than ``few_share`` of the rows stored):
the run is kept as challenger, with the moves and the uploads in its metrics, until an admin
promotes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Final

import numpy as np
import pandas as pd

from data.messages import DEFAULT_LANGUAGE, Lang
from data.store import CATALOG_KIND, RunRecord, Store, UploadRecord
from data.vocabulary import LEVEL_NAMES_ZH, Kind
from features.talent import TalentData
from forecasting.balance import TOTAL, BalanceResult, compute_balance
from forecasting.promotion import Check, Gates
from forecasting.settings import BalanceSettings

log = logging.getLogger(__name__)

DRIVERS: Final = ("base_gap", "demand_growth", "survey_adjustment", "cohort_pipeline", "rates")
#: At most this many sentences in a run's summary (the moved cells are all in ``moved``).
MAX_SENTENCES: Final = 40


@dataclass(frozen=True)
class ChangeSettings:
    """How a new run is compared with the served one (see the module docstring)."""

    p_threshold: float = 0.3
    gap_share: float = 0.25
    gap_min: float = 20.0
    max_uploads: int = 5
    few_rows: int = 200
    few_share: float = 0.02
    explained_share: float = 0.5
    samples: int = 200
    max_seconds: float = 300.0

    def __post_init__(self) -> None:
        checks = {
            "p_threshold": 0 < self.p_threshold <= 1,
            "gap_share": self.gap_share > 0,
            "gap_min": self.gap_min >= 0,
            "max_uploads": self.max_uploads >= 0,
            "few_rows": self.few_rows >= 0,
            "few_share": 0 <= self.few_share <= 1,
            "explained_share": 0 < self.explained_share <= 1,
            "samples": self.samples >= 100,
            "max_seconds": self.max_seconds >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"ChangeSettings.{name} is out of range: {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RegionShare:
    """What one region of a run of several regions is compared with: the run's uploads
    (``uploads``, oldest first, read once for all regions) that touched it, counted by their
    rows in it (``rows``: upload id → rows in this region, from
    :meth:`Store.upload_region_rows`), and the seconds the run's change check has spent on
    the regions before it (``spent``: ``max_seconds`` bounds all regions together, not each).

    A city's market is judged by the city's own rows: an upload of a few rows in this city is
    few here however many rows it holds elsewhere, and an upload without rows here (nor a
    catalog) is not left out for this city, since leaving it out changes nothing here.
    """

    uploads: Sequence[UploadRecord]
    rows: Mapping[int, int]
    spent: float = 0.0

    def touched(self) -> list[UploadRecord]:
        """The uploads that touched this region, with their row counts here."""
        return [
            u if u.kind == CATALOG_KIND else replace(u, row_count=int(self.rows[u.id]))
            for u in self.uploads
            if u.kind == CATALOG_KIND or self.rows.get(u.id, 0) > 0
        ]


@dataclass(frozen=True)
class LeftOut:
    """A set of uploads the balance was recomputed without."""

    uploads: tuple[UploadRecord, ...]

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(u.id for u in self.uploads)

    @property
    def rows(self) -> int:
        return sum(u.row_count for u in self.uploads)

    def describe(self, lang: Lang = DEFAULT_LANGUAGE) -> str:
        """Which uploads, in ``lang`` (kinds and uploaders are codes: they stay as they are)."""
        if lang == "zh":
            parts = [f"#{u.id}（{u.kind}，{u.row_count} 行，{u.uploader}）" for u in self.uploads]
            joined = "、".join(parts)
            return f"上传 {joined}" if len(parts) == 1 else f"上传 {joined}合计"
        parts = [f"#{u.id} ({u.kind}, {u.row_count} rows, {u.uploader})" for u in self.uploads]
        if len(parts) == 1:
            return f"upload {parts[0]}"
        return f"uploads {', '.join(parts[:-1])} and {parts[-1]} together"


def compare_with_served(
    store: Store,
    champion: RunRecord | None,
    result: BalanceResult,
    *,
    watermark: int,
    balance_settings: BalanceSettings,
    settings: ChangeSettings,
    gates: Gates,
    city_region: str,
    of_several: RegionShare | None = None,
) -> tuple[Check, dict[str, Any]]:
    """The change check of a new run against ``champion`` and the record for its metrics
    (``changes``): the moved cells with their attribution, the new uploads, sentences for
    people, what was left out and how long it took.

    In a run of several regions each region is compared on its own (``of_several``, see
    :class:`RegionShare`), and :func:`merge_region_changes` makes the run's one check of them.
    """
    name = "changes"
    if champion is None:
        return Check.of(name, True, "changes.first"), {}
    began = time.perf_counter()
    # The clock max_seconds is judged on: in a run of several regions, it has already run for
    # the seconds spent on the regions before this one.
    started = began - (of_several.spent if of_several is not None else 0.0)
    old = store.run_output(champion.id, "balance", region=city_region)
    last = max(int(champion.metrics.get("last_observed_year", result.last_year)), result.last_year)
    moved = moved_cells(old, result.balance, last + 1, settings)
    known = known_uploads(store, watermark) if of_several is None else of_several.touched()
    uploads = [u for u in known if u.id > champion.watermark]
    stored = sum(u.row_count for u in known if u.kind != CATALOG_KIND)
    record: dict[str, Any] = {
        "champion_run": champion.id,
        "champion_watermark": champion.watermark,
        "watermark": watermark,
        "settings": settings.to_dict(),
        "new_uploads": [_upload_record(u) for u in uploads],
        "stored_rows": stored,
        "left_out": [],
        "notes": [],
    }
    if not moved.empty:
        moved = attribute_by_driver(
            moved, store.run_output(champion.id, "drivers", region=city_region), result.drivers
        )
        moved = _attribute_by_upload(
            moved,
            uploads,
            store=store,
            result=result,
            watermark=watermark,
            balance_settings=balance_settings,
            settings=settings,
            city_region=city_region,
            record=record,
            started=started,
        )
    few = [_few(rows, stored, settings) for rows in moved.get("explained_rows", [])]
    moved = moved.assign(few_rows=few) if not moved.empty else moved
    if of_several is not None:
        record["region"] = city_region
        moved = moved.assign(region=city_region)
    record["moved"] = _records(moved)
    record["summary"] = _capped(summarise(moved), "en")
    record["summary_zh"] = _capped(summarise(moved, "zh"), "zh")
    record["seconds"] = round(time.perf_counter() - began, 2)
    held = moved[moved["few_rows"]] if not moved.empty else moved
    if moved.empty:
        check = Check.of(name, True, "changes.none", champion=champion.id)
    elif held.empty:
        check = Check.of(name, True, "changes.not_few", moved=len(moved), champion=champion.id)
    else:
        reasons = {"en": "; ".join(summarise(held)[:5]), "zh": "；".join(summarise(held, "zh")[:5])}
        code = "changes.held" if gates.change_gate else "changes.gate_off"
        check = Check.of(name, not gates.change_gate, code, champion=champion.id, reasons=reasons)
    record["held"] = not check.passed
    return check, record


def merge_region_changes(
    checks: Sequence[tuple[Check, dict[str, Any]]], gates: Gates
) -> tuple[Check, dict[str, Any]]:
    """One change check and record for a run of several regions from each region's
    (:func:`compare_with_served` with ``of_several``): the run is held when any region's
    large moves come from few new rows there; the record lists every region's moved cells
    (each with its ``region``), sentences (prefixed by the region), left-out sets and notes.
    """
    name = "changes"
    records = [each for _, each in checks if each]
    if not records:  # no served run to compare with
        return Check.of(name, True, "changes.first"), {}
    first = records[0]
    moved = [cell for each in records for cell in each["moved"]]
    record: dict[str, Any] = {
        **{key: first[key] for key in ("champion_run", "champion_watermark", "watermark")},
        "settings": first["settings"],
        "new_uploads": _unique_uploads(each["new_uploads"] for each in records),
        "stored_rows": sum(int(each["stored_rows"]) for each in records),
        "left_out": [
            {**entry, "region": each["region"]} for each in records for entry in each["left_out"]
        ],
        "notes": [f"{each['region']}: {note}" for each in records for note in each["notes"]],
        "regions": [each["region"] for each in records],
        "moved": moved,
    }
    record["summary"] = _capped([line for each in records for line in each["summary"]], "en")
    record["summary_zh"] = _capped([line for each in records for line in each["summary_zh"]], "zh")
    record["seconds"] = round(sum(float(each["seconds"]) for each in records), 2)
    held = [check for check, _ in checks if check.code in ("changes.held", "changes.gate_off")]
    champion = int(first["champion_run"])
    if held:
        given = [dict(check.params)["reasons"] for check in held]
        reasons = {
            lang: ("; " if lang == "en" else "；").join(
                str(each[lang]) for each in given if isinstance(each, Mapping)
            )
            for lang in ("en", "zh")
        }
        code = "changes.held" if gates.change_gate else "changes.gate_off"
        check = Check.of(name, not gates.change_gate, code, champion=champion, reasons=reasons)
    elif moved:
        check = Check.of(name, True, "changes.not_few", moved=len(moved), champion=champion)
    else:
        check = Check.of(name, True, "changes.none", champion=champion)
    record["held"] = not check.passed
    return check, record


def _capped(sentences: list[str], lang: Lang) -> list[str]:
    """At most MAX_SENTENCES sentences, and how many more there were."""
    if len(sentences) <= MAX_SENTENCES:
        return sentences
    more = len(sentences) - MAX_SENTENCES
    tail = f"……另有 {more} 条" if lang == "zh" else f"... and {more} more"
    return [*sentences[:MAX_SENTENCES], tail]


def _unique_uploads(lists: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The uploads of several regions' records, each once (with its rows over the regions)."""
    merged: dict[int, dict[str, Any]] = {}
    for uploads in lists:
        for upload in uploads:
            if upload["id"] in merged and upload["kind"] != CATALOG_KIND:
                merged[upload["id"]]["rows"] += upload["rows"]
            else:
                merged.setdefault(upload["id"], dict(upload))
    return [merged[key] for key in sorted(merged)]


class RegionChanges:
    """The change check of a run of several regions, made region by region while each
    region's balance is in memory (``compute_regions(on_balance=...)``), then merged
    (:meth:`merged`). ``seconds`` is the time it took over all regions."""

    def __init__(
        self,
        store: Store,
        champion: RunRecord | None,
        *,
        watermark: int,
        balance_settings: BalanceSettings,
        settings: ChangeSettings,
        gates: Gates,
    ) -> None:
        self.store = store
        self.champion = champion
        self.watermark = watermark
        self.balance_settings = balance_settings
        self.settings = settings
        self.gates = gates
        self.checks: list[tuple[Check, dict[str, Any]]] = []
        self.seconds = 0.0
        self._rows: dict[int, dict[str, int]] | None = None
        self._uploads: list[UploadRecord] = []

    def __call__(self, region: str, result: BalanceResult) -> None:
        """Compare ``region``'s balance with the served run's for that region."""
        if self.champion is None:
            return
        began = time.perf_counter()
        if self._rows is None:  # read once for every region
            self._rows = self.store.upload_region_rows(as_of=self.watermark)
            self._uploads = known_uploads(self.store, self.watermark)
        rows = {upload: counts.get(region, 0) for upload, counts in self._rows.items()}
        self.checks.append(
            compare_with_served(
                self.store,
                self.champion,
                result,
                watermark=self.watermark,
                balance_settings=self.balance_settings,
                settings=self.settings,
                gates=self.gates,
                city_region=region,
                of_several=RegionShare(self._uploads, rows, spent=self.seconds),
            )
        )
        self.seconds += time.perf_counter() - began

    def merged(self) -> tuple[Check, dict[str, Any]]:
        return merge_region_changes(self.checks, self.gates)


def moved_cells(
    old: pd.DataFrame, new: pd.DataFrame, first_year: int, settings: ChangeSettings
) -> pd.DataFrame:
    """Field × level × year cells (no totals) forecast by both runs from ``first_year`` on
    whose P(shortage) or median gap moved beyond the thresholds; ``metric`` names the one
    that counts (P(shortage) when it moved, else the gap)."""
    columns = ["field_code", "level", "year", "p_shortage", "gap_p50", "supply_p50"]

    def cells(frame: pd.DataFrame) -> pd.DataFrame:
        keep = (
            (frame["year"] >= first_year)
            & (frame["field_code"] != TOTAL)
            & (frame["level"] != TOTAL)
        )
        return frame.loc[keep, columns]

    both = cells(old).merge(cells(new), on=columns[:3], suffixes=("_old", "_new"))
    limit = np.maximum(settings.gap_share * both["supply_p50_old"].abs(), settings.gap_min)
    p_moved = (both["p_shortage_new"] - both["p_shortage_old"]).abs() > settings.p_threshold
    gap_moved = (both["gap_p50_new"] - both["gap_p50_old"]).abs() > limit
    moved = both[p_moved | gap_moved].copy()
    moved["metric"] = np.where(p_moved[moved.index], "p_shortage", "gap_p50")
    return moved.drop(columns=["supply_p50_old", "supply_p50_new"]).reset_index(drop=True)


def attribute_by_driver(
    moved: pd.DataFrame, old_drivers: pd.DataFrame, new_drivers: pd.DataFrame
) -> pd.DataFrame:
    """Add ``driver`` (the part of the gap's breakdown that changed most between the runs)
    and ``driver_change`` (by how many persons)."""
    key = ["field_code", "level", "year"]
    present = [d for d in DRIVERS if d in old_drivers.columns and d in new_drivers.columns]
    both = new_drivers.loc[:, [*key, *present]].merge(
        old_drivers.loc[:, [*key, *present]], on=key, suffixes=("", "_old")
    )
    for driver in present:
        both[driver] = both[driver] - both[f"{driver}_old"]
    merged = moved.merge(both.loc[:, [*key, *present]], on=key, how="left")
    deltas = merged[present].fillna(0.0).to_numpy(dtype=float)
    if not present or deltas.size == 0:
        return moved.assign(driver=None, driver_change=np.nan)
    largest = np.abs(deltas).argmax(axis=1)
    moved = moved.copy()
    moved["driver"] = [present[i] for i in largest]
    moved["driver_change"] = deltas[np.arange(len(deltas)), largest]
    return moved


def _attribute_by_upload(
    moved: pd.DataFrame,
    uploads: Sequence[UploadRecord],
    *,
    store: Store,
    result: BalanceResult,
    watermark: int,
    balance_settings: BalanceSettings,
    settings: ChangeSettings,
    city_region: str,
    record: dict[str, Any],
    started: float,
) -> pd.DataFrame:
    """Add ``explained_by`` (upload ids), ``explained_share`` and ``explained_rows`` from
    leave-one-upload-out balances (see the module docstring)."""
    moved = moved.assign(
        explained_by=None,
        explained_share=np.nan,
        explained_rows=np.nan,
        explained_text=None,
        explained_text_zh=None,
    )
    moved["explained_by"] = moved["explained_by"].astype(object)
    if not uploads:
        record["notes"].append("no upload since the served run: the configuration or code moved")
        return moved
    sets = [LeftOut((u,)) for u in uploads] if len(uploads) <= settings.max_uploads else []
    if not sets:
        record["notes"].append(
            f"{len(uploads)} new uploads (more than {settings.max_uploads}): attributed by driver"
        )
    stored = int(record["stored_rows"])
    small = tuple(u for u in uploads if _few(u.row_count, stored, settings))
    if len(small) > 1 and settings.max_uploads > 0:
        sets.append(LeftOut(small))
    for left_out in sets:
        if time.perf_counter() - started > settings.max_seconds:
            record["notes"].append(
                f"stopped leaving uploads out after {settings.max_seconds:.0f} s: the rest "
                "is attributed by driver"
            )
            break
        began = time.perf_counter()
        try:
            without = balance_without(
                store,
                left_out.ids,
                watermark=watermark,
                result=result,
                balance_settings=balance_settings,
                samples=settings.samples,
                city_region=city_region,
            )
        except Exception as error:  # an attribution that cannot be computed must not fail a run
            log.warning("balance without uploads %s failed", left_out.ids, exc_info=True)
            record["notes"].append(f"no balance without {left_out.describe()}: {error}")
            continue
        share = share_undone(moved, without)
        record["left_out"].append(
            {
                "uploads": list(left_out.ids),
                "rows": left_out.rows,
                "seconds": round(time.perf_counter() - began, 2),
            }
        )
        # A single upload is the more precise answer: a set only explains what none alone did.
        better = (share >= settings.explained_share) & (
            moved["explained_by"].isna()
            | ((len(left_out.ids) == 1) & (share > moved["explained_share"]))
        )
        for index in moved.index[better]:
            moved.at[index, "explained_by"] = list(left_out.ids)
            moved.at[index, "explained_share"] = float(share[index])
            moved.at[index, "explained_rows"] = left_out.rows
            moved.at[index, "explained_text"] = left_out.describe()
            moved.at[index, "explained_text_zh"] = left_out.describe("zh")
    return moved


def balance_without(
    store: Store,
    exclude: Sequence[int],
    *,
    watermark: int,
    result: BalanceResult,
    balance_settings: BalanceSettings,
    samples: int,
    city_region: str,
) -> pd.DataFrame:
    """The balance of the store as of ``watermark`` read without the uploads ``exclude``, at
    most ``samples`` samples, up to the last forecast year of ``result``."""
    frames = {
        kind: store.observations(kind, as_of=watermark, exclude=exclude, regions=[city_region])
        for kind in Kind
    }
    catalog = store.catalog(as_of=watermark, exclude=exclude)
    data = TalentData.from_observations(catalog, frames, city_region)
    horizon = int(result.balance["year"].max()) - data.last_year
    reduced = replace(
        balance_settings,
        n_samples=min(balance_settings.n_samples, samples),
        horizon=min(max(horizon, 1), 30),
    )
    return compute_balance(data, reduced).balance


def share_undone(moved: pd.DataFrame, without: pd.DataFrame) -> pd.Series:
    """For every moved cell, the share of its move that the balance ``without`` undoes:
    1 − |without − old| ÷ |new − old| on the cell's metric, within [0, 1] (0 where the cell
    is missing)."""
    key = ["field_code", "level", "year"]
    other = without.loc[:, [*key, "p_shortage", "gap_p50"]]
    merged = moved.loc[:, [*key, "metric"]].merge(other, on=key, how="left")
    merged.index = moved.index
    shares = pd.Series(0.0, index=moved.index)
    for metric in ("p_shortage", "gap_p50"):
        rows = moved["metric"] == metric
        old, new = moved.loc[rows, f"{metric}_old"], moved.loc[rows, f"{metric}_new"]
        left = merged.loc[rows, metric]
        share = 1 - (left - old).abs() / (new - old).abs().clip(lower=1e-9)
        shares[rows] = share.clip(0, 1).fillna(0.0)
    return shares


def summarise(moved: pd.DataFrame, lang: Lang = DEFAULT_LANGUAGE) -> list[str]:
    """One sentence per field, level, metric and explanation, with the years it covers, in
    ``lang`` (field codes stay codes: they are how the catalog names fields)."""
    if moved.empty:
        return []
    column = "explained_text_zh" if lang == "zh" else "explained_text"
    frame = moved.assign(
        explanation=moved.get(column, pd.Series(None, index=moved.index)).fillna("")
    )
    sentences = []
    for key, group in frame.groupby(["field_code", "level", "metric", "explanation"], sort=True):
        metric = key[2]
        largest = group.loc[(group[f"{metric}_new"] - group[f"{metric}_old"]).abs().idxmax()]
        sentence = _sentence(key, _years(group["year"]), largest, lang)
        region = largest.get("region")
        sentences.append(f"{region}: {sentence}" if isinstance(region, str) else sentence)
    return sentences


def _sentence(key: tuple[Any, ...], years: str, largest: pd.Series, lang: Lang) -> str:
    """The sentence of one (field, level, metric, explanation) group, from its largest move."""
    field, level, metric, explanation = key
    old, new = largest[f"{metric}_old"], largest[f"{metric}_new"]
    driver, change = largest.get("driver"), largest.get("driver_change")
    if lang == "zh":
        where = f"{field} {LEVEL_NAMES_ZH.get(level, '全部层次')} {years}"
        values = (
            f"{where} 的短缺概率从 {old:.2f} 变为 {new:.2f}"
            if metric == "p_shortage"
            else f"{where} 的缺口中位数从 {old:+.0f} 人变为 {new:+.0f} 人"
        )
        cause = f"由{explanation}解释" if explanation else "无法由单次上传解释"
        if isinstance(driver, str):
            cause += f"（变化最大的驱动因素：{driver} {change:+.0f}）"
        return f"{values}；{cause}"
    values = (
        f"P(shortage) of {field} {level} {years} moved {old:.2f}→{new:.2f}"
        if metric == "p_shortage"
        else f"median gap of {field} {level} {years} moved {old:+.0f}→{new:+.0f} persons"
    )
    cause = f"explained by {explanation}" if explanation else "not explained by one upload"
    if isinstance(driver, str):
        cause += f" (largest driver change: {driver} {change:+.0f})"
    return f"{values}; {cause}"


def _years(years: pd.Series) -> str:
    """2027, 2028, 2029, 2031 → "2027-2029, 2031"."""
    values = sorted(int(y) for y in years)
    runs: list[list[int]] = []
    for year in values:
        if runs and year == runs[-1][-1] + 1:
            runs[-1].append(year)
        else:
            runs.append([year])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def known_uploads(store: Store, watermark: int) -> list[UploadRecord]:
    """The uploads up to ``watermark``, oldest first."""
    return [u for u in reversed(store.uploads()) if u.id <= watermark]


def _few(rows: float, stored: int, settings: ChangeSettings) -> bool:
    """Whether uploads of ``rows`` rows are few (NaN: nothing explained the move)."""
    if pd.isna(rows):
        return False
    return rows < settings.few_rows or rows < settings.few_share * stored


def _upload_record(upload: UploadRecord) -> dict[str, Any]:
    return {
        "id": upload.id,
        "kind": upload.kind,
        "uploader": upload.uploader,
        "rows": upload.row_count,
        "filename": upload.filename,
    }


def _records(moved: pd.DataFrame) -> list[dict[str, Any]]:
    frame = moved.drop(columns=["explained_text", "explained_text_zh"], errors="ignore")
    frame = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]
