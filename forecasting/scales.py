"""Openings per posting: the scale that turns a field's postings into openings, in persons.

Postings are not openings: one opening is posted several times and on several platforms, by a
factor that differs by field. With θ_f = log k_f the log postings per opening of field f,

    postings(f, l, t) = k_f × openings(f, l, t) × noise.

Nothing in the store measures k_f directly; three kinds of evidence bear on it, combined per
field into a posterior over a grid of θ (so the scale has an interval, and the balance draws it
sample by sample):

1. **Hires** (where reported) anchor the scale. Hires are openings filled, and a field cannot
   hire many more graduates than it gets: log hires = min(log postings − θ, log supply + u)
   + e, with u the hires from beyond the local graduates in a tight year (common to all
   fields, estimated) and e noise. Slack years pin θ; tight years only bound it. In a slack
   year hires are taken to fill every opening: the share left unfilled there cannot be told
   apart from the scale itself, so where some openings stay unfilled even in slack markets
   the scale comes out that much high (demand that much low).
2. **Outcome rates** place every field relative to the anchors. A tight field draws more of
   its graduates into it (in-field share) and places more of them (placement rate):
   logit(rate) = c_fl + β × tightness_index + e, with tightness_index = log(postings ÷
   graduates available) (:mod:`forecasting.market`). β comes from changes within each field ×
   level over the years, where the scale cancels; the level c_fl then says where the field's
   market stands: z_fl = −c_fl ÷ β = θ_f + α_l, with α_l the same for every field of a level.
   The anchor fields give α_l and how far single fields stray from the common relation (the
   reading's noise). Without any anchor, α_l is set so that the fields of the level were, on
   average over the history, balanced — an assumption, so such scales get a wide interval.
3. **The admin** may set a field's scale with its source (``BalanceSettings.posting_scales``).

The per-field posterior multiplies the hires likelihood, the relative readings and a prior
across fields (the anchors' spread). The same β is what makes supply respond to the market
(:func:`forecasting.supply.respond_to_tightness`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from features.talent import logit

#: log-scale grid: postings per opening from e^-1.5 ≈ 0.22 to e^3 ≈ 20.
#: Where a field's scale comes from (the ``source`` of the scales output); an admin's figure is
#: ``SOURCE_ADMIN`` followed by the source the admin gave. Pages name them in the reader's words.
SOURCE_HIRES: Final = "hires"
SOURCE_RATES: Final = "outcome rates"
SOURCE_PRIOR: Final = "prior across fields"
SOURCE_ADMIN: Final = "admin: "
SCALE_SOURCES: Final = (SOURCE_HIRES, SOURCE_RATES, SOURCE_PRIOR)
#: The assumptions a scale may rest on (its ``note``), as stored.
NOTE_HIRES_BOUND: Final = "tight in every year with hires: hires only bound the scale from above"
NOTE_LEVEL_ASSUMED: Final = (
    "no hires or admin scale to anchor the level: scale assumes the field's level was balanced "
    "on average over the history"
)
SCALE_NOTES: Final = (NOTE_HIRES_BOUND, NOTE_LEVEL_ASSUMED)
GRID: Final = np.linspace(-1.5, 3.0, 451)
#: Hires beyond the local supply in a tight year (graduates from elsewhere), as a log.
INFLOW_GRID: Final = np.linspace(-0.3, 0.5, 17)
#: A relation is used only when its slope is this many standard errors above zero.
MIN_T_STAT: Final = 3.0
#: How far one field's base rate may stray from the common relation (logit scale) when too
#: few anchors measure it; its reading of θ is this ÷ β, so a weak response reads little.
DEFAULT_FIELD_SD: Final = 0.25
#: Uncertainty of the "balanced on average" assumption used without any anchor (log scale).
ASSUMPTION_SD: Final = 0.4
#: Smallest noise credited to hires residuals and readings: nothing is measured exactly.
MIN_SD: Final = 0.05
#: Scales drift (platforms come and go, reposting habits change): a year's evidence counts
#: half as much every this many years back.
HALF_LIFE_YEARS: Final = 5.0
#: A field whose own evidence puts its log scale within this sd anchors the relative readings.
ANCHOR_SD: Final = 0.25
#: Least spread of field scales the prior allows, and its spread when too few fields are
#: measured to estimate it (log scale).
MIN_PRIOR_SD: Final = 0.15
WIDE_PRIOR_SD: Final = 0.7
#: A count of this size gets half the weight of a large one (log noise of small counts).
SMALL_COUNT: Final = 20.0
#: Independent years a field's hires history is worth at most (its years err together).
EFFECTIVE_YEARS: Final = 3.0
#: Anchor fields needed to measure how far single fields stray from the common relation.
MIN_ANCHORS_FOR_SPREAD: Final = 4
RATE_RELATIONS: Final = ("infield_share", "placement_rate")


@dataclass(frozen=True)
class Relation:
    """How one outcome rate responds to tightness: logit(rate) = c_fl + beta × index."""

    name: str
    beta: float
    se: float
    cells: int
    rows: int

    @property
    def usable(self) -> bool:
        return self.cells >= 3 and self.beta > 0 and self.beta > MIN_T_STAT * self.se


@dataclass(frozen=True)
class ScaleEstimate:
    """Posterior of every field's log postings-per-opening, and the relations behind it.

    ``posterior`` is (fields, grid) with rows summing to 1; ``relative_weight`` is the share of
    each field's precision that comes from relative readings (those share the uncertainty of
    the level constant α, drawn once per sample for all fields: ``shared_sd``).
    """

    fields: tuple[str, ...]
    posterior: np.ndarray
    source: tuple[str, ...]
    relative_weight: np.ndarray
    shared_sd: float
    relations: dict[str, Relation]
    inflow: float
    hires_years: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def quantiles(self, q: float) -> np.ndarray:
        """Per-field quantile of the log scale."""
        cdf = np.cumsum(self.posterior, axis=1)
        return np.array([np.interp(q, row, GRID) for row in cdf])

    def draw(self, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """Log scales per sample and field, (samples, fields): each field from its posterior,
        plus one shared shift of the relative readings' level per sample."""
        cdf = np.cumsum(self.posterior, axis=1)
        uniforms = rng.uniform(0, 1, (n_samples, len(self.fields)))
        draws = np.column_stack(
            [np.interp(uniforms[:, f], cdf[f], GRID) for f in range(len(self.fields))]
        )
        shared = rng.normal(0, self.shared_sd, (n_samples, 1))
        return draws + shared * self.relative_weight[None, :]

    def openings(self, hiring: pd.DataFrame) -> pd.Series:
        """Postings of a frame with field_code and postings columns, in openings (÷ each
        field's median scale; a field the estimate does not know keeps its postings)."""
        median = dict(zip(self.fields, np.exp(self.quantiles(0.5)), strict=True))
        return hiring["postings"] / hiring["field_code"].map(median).fillna(1.0)

    def table(self) -> pd.DataFrame:
        """The scales as a run output: field, interval of postings per opening, source."""
        low, mid, high = (np.exp(self.quantiles(q)) for q in (0.1, 0.5, 0.9))
        return pd.DataFrame(
            {
                "field_code": list(self.fields),
                "scale_p10": low,
                "scale_p50": mid,
                "scale_p90": high,
                "source": list(self.source),
                "hires_years": [self.hires_years.get(f, 0) for f in self.fields],
                "note": [self.notes.get(f, "") for f in self.fields],
            }
        )


def estimate_scales(
    market: pd.DataFrame,
    fields: tuple[str, ...],
    admin: Mapping[str, tuple[float, str]] | None = None,
) -> ScaleEstimate:
    """Posterior of each field's log scale from the observed market (see module docstring).

    ``admin`` maps a field to (postings per opening, source of that number): such fields are
    anchors known to within ±5%.
    """
    admin = dict(admin or {})
    for code, (value, _) in admin.items():
        if code not in fields:
            raise ValueError(f"posting_scales names unknown field {code!r}")
        if not value > 0:
            raise ValueError(f"posting_scales[{code!r}] must be positive, got {value}")
    loglik = np.zeros((len(fields), GRID.size))
    source = ["none"] * len(fields)
    hires_loglik, inflow, hires_years = _hires_likelihood(market, fields)
    anchors: dict[str, tuple[float, float]] = {}
    bounded_by_hires: list[str] = []
    for f, code in enumerate(fields):
        if code in admin:
            loglik[f] = -0.5 * ((GRID - np.log(admin[code][0])) / MIN_SD) ** 2
            source[f] = f"{SOURCE_ADMIN}{admin[code][1]}"
        elif code in hires_loglik:
            loglik[f] = hires_loglik[code]
            source[f] = SOURCE_HIRES
        else:
            continue
        mean, sd = _moments(_normalise(loglik[f]))
        if sd < ANCHOR_SD:  # informative enough to place the relative readings
            anchors[code] = (mean, sd)
        elif source[f] == SOURCE_HIRES:
            bounded_by_hires.append(code)

    relations = {name: _fit_relation(market, name) for name in RATE_RELATIONS}
    readings, shared_sd, notes = _relative_readings(market, relations, anchors, fields)
    for code in bounded_by_hires:
        notes.setdefault(code, NOTE_HIRES_BOUND)
    precision_relative = np.zeros(len(fields))
    for f, code in enumerate(fields):
        if code in admin:
            continue  # the admin's figure stands as given
        for value, sd in readings.get(code, []):
            loglik[f] += -0.5 * ((GRID - value) / sd) ** 2
            precision_relative[f] += 1 / sd**2
            if source[f] == "none":
                source[f] = SOURCE_RATES
    prior_mean, prior_sd = _prior(anchors, readings)
    precision_total = np.zeros(len(fields))
    posterior = np.zeros_like(loglik)
    for f in range(len(fields)):
        posterior[f] = _normalise(loglik[f] - 0.5 * ((GRID - prior_mean) / prior_sd) ** 2)
        _, sd = _moments(posterior[f])
        precision_total[f] = 1 / max(sd, 1e-3) ** 2
        if source[f] == "none":
            source[f] = SOURCE_PRIOR
    weight = np.clip(precision_relative / precision_total, 0, 1)
    weight[[s != SOURCE_RATES for s in source]] = 0.0
    return ScaleEstimate(
        fields=fields,
        posterior=posterior,
        source=tuple(source),
        relative_weight=weight,
        shared_sd=shared_sd,
        relations=relations,
        inflow=inflow,
        hires_years=hires_years,
        notes=notes,
    )


def _hires_likelihood(
    market: pd.DataFrame, fields: tuple[str, ...]
) -> tuple[dict[str, np.ndarray], float, dict[str, int]]:
    """Log-likelihood over GRID per field with hires, the common inflow u, years used."""
    rows = market[(market["hires"] > 0) & (market["supply"] > 0) & (market["postings"] > 0)]
    rows = rows[rows["field_code"].isin(fields)]
    if rows.empty:
        return {}, 0.0, {}
    last = int(rows["year"].max())
    groups = {
        code: (
            np.log(g["postings"].to_numpy(float)),
            np.log(g["supply"].to_numpy(float)),
            np.log(g["hires"].to_numpy(float)),
            recency_weights(g["year"].to_numpy(), last) * _count_weight(g["hires"].to_numpy(float)),
        )
        for code, g in rows.groupby("field_code")
    }

    def sse(inflow: float) -> dict[str, np.ndarray]:
        out = {}
        for code, (lp, ls, lh, w) in groups.items():
            predicted = np.minimum(lp[None, :] - GRID[:, None], ls[None, :] + inflow)
            out[code] = (w[None, :] * (lh[None, :] - predicted) ** 2).sum(axis=1)
        return out

    totals = [sum(float(v.min()) for v in sse(u).values()) for u in INFLOW_GRID]
    inflow = float(INFLOW_GRID[int(np.argmin(totals))])
    errors = sse(inflow)
    n = sum(float(w.sum()) for *_, w in groups.values())
    dof = max(n - len(groups) - 1, 1.0)
    variance = max(min(totals) / dof, MIN_SD**2)
    # Years of one field err together (a reposting habit lasts), so a field's likelihood is
    # worth at most EFFECTIVE_YEARS independent years however long its history.
    loglik = {
        code: -0.5 * values / variance * min(1.0, EFFECTIVE_YEARS / float(groups[code][3].sum()))
        for code, values in errors.items()
    }
    years = rows.groupby("field_code")["year"].nunique().astype(int).to_dict()
    return loglik, inflow, years


def _count_weight(counts: np.ndarray) -> np.ndarray:
    """Small counts are noisy on a log scale (a Poisson count of 3 is ±60%): weigh a cell-year
    by its size until it is large enough for its noise to be negligible."""
    return counts / (counts + SMALL_COUNT)


def recency_weights(years: np.ndarray, last: int) -> np.ndarray:
    """Weight of each year's evidence: 1 for the last year, halving every HALF_LIFE_YEARS."""
    return np.power(0.5, (last - np.asarray(years, dtype=float)) / HALF_LIFE_YEARS)


def _fit_relation(market: pd.DataFrame, column: str) -> Relation:
    """Within-cell weighted regression of logit(rate) on the tightness index."""
    frame = market[(market[column] > 0) & (market[column] < 1)].copy()
    if frame.empty:
        return Relation(column, 0.0, np.inf, 0, 0)
    frame["y"] = logit(frame[column].to_numpy())
    p = frame[column].to_numpy()
    n = frame["potential" if column == "infield_share" else "graduates"].to_numpy(float)
    frame["w"] = 1 / (1 / np.maximum(n * p * (1 - p), 1.0) + 0.01)
    frame = frame[frame.groupby(["field_code", "level"])["year"].transform("size") >= 3]
    if frame.empty:
        return Relation(column, 0.0, np.inf, 0, 0)
    by_cell = [frame["field_code"], frame["level"]]
    cell_weight = frame.groupby(by_cell)["w"].transform("sum")

    def centred(values: pd.Series) -> pd.Series:
        """Deviation from the cell's weighted mean: the scale, constant per field, cancels."""
        return values - (values * frame["w"]).groupby(by_cell).transform("sum") / cell_weight

    frame["x"] = centred(frame["tightness_index"])
    frame["yc"] = centred(frame["y"])
    sxx = float((frame["w"] * frame["x"] ** 2).sum())
    if sxx <= 0:
        return Relation(column, 0.0, np.inf, 0, 0)
    beta = float((frame["w"] * frame["x"] * frame["yc"]).sum() / sxx)
    residual = frame["yc"] - beta * frame["x"]
    cells = int(frame.groupby(["field_code", "level"]).ngroups)
    dof = max(len(frame) - cells - 1, 1)
    sigma2 = float((frame["w"] * residual**2).sum() / dof)
    return Relation(column, beta, float(np.sqrt(sigma2 / sxx)), cells, len(frame))


def _relative_readings(
    market: pd.DataFrame,
    relations: dict[str, Relation],
    anchors: dict[str, tuple[float, float]],
    fields: tuple[str, ...],
) -> tuple[dict[str, list[tuple[float, float]]], float, dict[str, str]]:
    """Per field, (value, sd) readings of θ_f from each usable relation; the sd of the level
    constants shared by all relative readings; notes on assumptions made."""
    readings: dict[str, list[tuple[float, float]]] = {}
    notes: dict[str, str] = {}
    shared = 0.0
    for relation in relations.values():
        if not relation.usable:
            continue
        z = _cell_positions(market, relation)
        if z.empty:
            continue
        constants, residual_sd, constant_sd, assumed = _level_constants(z, anchors, relation)
        shared = max(shared, constant_sd)
        z = z.assign(theta=z["z"] - z["level"].map(constants))
        z = z[np.isfinite(z["theta"])]
        per_field = z.groupby("field_code").apply(
            lambda g: float(np.average(g["theta"], weights=np.sqrt(g["potential"]) + 1e-9)),
            include_groups=False,
        )
        for code, value in per_field.items():
            if code in fields:
                readings.setdefault(str(code), []).append((float(value), residual_sd))
                if assumed and code not in anchors:
                    notes[str(code)] = NOTE_LEVEL_ASSUMED
    return readings, shared, notes


def _cell_positions(market: pd.DataFrame, relation: Relation) -> pd.DataFrame:
    """z_fl = mean index − mean logit(rate) ÷ β per field × level (θ_f + α_l)."""
    frame = market[(market[relation.name] > 0) & (market[relation.name] < 1)]
    last = int(frame["year"].max()) if not frame.empty else 0
    rows = []
    for (code, level), g in frame.groupby(["field_code", "level"]):
        y = logit(g[relation.name].to_numpy())
        w = recency_weights(g["year"].to_numpy(), last)
        balanced = np.log(g["postings"] / g["supply"].clip(lower=1.0))
        rows.append(
            {
                "field_code": code,
                "level": level,
                "z": float(np.average(g["tightness_index"] - y / relation.beta, weights=w)),
                "balanced": float(np.average(balanced, weights=w)),
                "potential": float(g["potential"].mean()),
            }
        )
    return pd.DataFrame(rows)


def _level_constants(
    z: pd.DataFrame, anchors: dict[str, tuple[float, float]], relation: Relation
) -> tuple[dict[str, float], float, float, bool]:
    """α_l per level from the anchor fields (else from the balanced-on-average assumption),
    the noise of one field's reading, the uncertainty of α, and whether it was assumed."""
    anchored = z[z["field_code"].isin(anchors)]
    anchored = anchored.assign(
        residual=anchored["z"] - anchored["field_code"].map(lambda c: anchors[c][0])
    )
    constants: dict[str, float] = {}
    assumed = False
    for level, g in z.groupby("level"):
        own = anchored[anchored["level"] == level]
        if len(own):
            constants[str(level)] = float(own["residual"].median())
        else:  # no anchor at this level: fields balanced on average over the history
            constants[str(level)] = float((g["z"] - g["balanced"]).median())
            assumed = True
    # A field's deviation from the common relation, measured on anchors (their residual
    # around their level's constant, net of the anchors' own uncertainty).
    n_anchors = int(anchored["field_code"].nunique())
    if n_anchors >= MIN_ANCHORS_FOR_SPREAD:
        deviations = anchored["residual"] - anchored["level"].map(constants)
        per_field = deviations.groupby(anchored["field_code"]).mean()
        # The constants were fitted to these same anchors: correct for the lost freedom.
        spread = float(np.sqrt(np.sum(per_field**2) / (n_anchors - 1)))
        spread = max(spread, MIN_SD)
    else:
        spread = DEFAULT_FIELD_SD / relation.beta
    constant_sd = spread / np.sqrt(max(n_anchors, 1))
    if assumed:
        constant_sd = max(constant_sd, ASSUMPTION_SD)
    return constants, spread, float(constant_sd), assumed


def _prior(
    anchors: dict[str, tuple[float, float]], readings: dict[str, list[tuple[float, float]]]
) -> tuple[float, float]:
    """The population of field scales (θ_f ~ N(μ, τ²)): where a field's own evidence only
    bounds its scale (hires in a field that was tight every year), this is what fills in.

    μ and τ come from the well-measured anchors (τ² = their spread minus their own
    measurement variance, method of moments); with fewer than three anchors the relative
    readings stand in and the prior stays wide.
    """
    if len(anchors) >= 3:
        means = np.array([mean for mean, _ in anchors.values()])
        noise = np.array([sd for _, sd in anchors.values()]) ** 2
        centre = float(np.median(means))
        spread = float(np.sqrt(max(np.var(means, ddof=1) - noise.mean(), MIN_PRIOR_SD**2)))
        return centre, spread
    values = [mean for mean, _ in anchors.values()]
    values += [float(np.mean([v for v, _ in items])) for items in readings.values()]
    if not values:
        return 0.5, 1.0
    return float(np.median(values)), WIDE_PRIOR_SD


def _normalise(loglik: np.ndarray) -> np.ndarray:
    weights = np.exp(loglik - loglik.max())
    return weights / weights.sum()


def _moments(posterior: np.ndarray) -> tuple[float, float]:
    mean = float(np.sum(posterior * GRID))
    return mean, float(np.sqrt(max(np.sum(posterior * (GRID - mean) ** 2), 0.0)))
