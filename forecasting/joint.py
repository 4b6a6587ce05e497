"""Joint samples across series and engines: each sample is one whole backtest cross-section.

The balance adds up thousands of programme paths into city, field and level totals, and sets
supply against demand. Totals are only as honest as the dependence between the paths: series
hit by the same shock (a downturn, a policy change, a demographic dip) err together, and a
total of independently drawn errors is far too sure of itself (40 series with a strong common
shock: the sampled total's spread was a sixth to a tenth of the real one).

The backtest shows that dependence, origin by origin. At each origin the scaled error paths of
all series split into

- a **common part**: the across-series (10% trimmed) mean path at that origin — the shock every
  series shared — and
- **idiosyncratic residuals**: each row's path minus its origin's common part.

A sample picks one origin for every series of an engine (:class:`OriginErrors`). Every series
gets that origin's common path plus a residual path drawn independently per series from the
same origin's residuals, so each series' errors, mixed over origins, are the pooled backtest
errors, while the correlation across series is the share of the error variance that is
common. Three corrections keep this honest:

- The mean of N residuals is itself noisy (variance σ²/N): for independent series the "common
  part" would be pure noise and double the variance of totals. The common paths are shrunk
  toward zero by the factor that removes this noise from their second moment (per step, pooled
  over origins), and the residuals are widened by √(N/(N−1)) (residuals about an estimated
  centre are that much too narrow), so marginal variances stay what they were.
- With few origins (two by default) the common part takes few values. It is smoothed with a
  Gaussian kernel jitter — one standard normal per sample times a per-step Silverman bandwidth,
  so a jittered path keeps its shape — rescaled about the mean so that its variance over
  samples is the unbiased (n − 1) estimate from the origins (the variance-corrected smoothed
  bootstrap; the plug-in variance of two origins is half the expected one).
- An origin with a single row says nothing about a cross-section: its row is all residual.

The engine then maps each step's sampled values onto the errors its intervals are calibrated
on, keeping their ranks (:func:`forecasting.engine._match_marginals`): the cross-sections give
the dependence, the calibration the spread of each series. A total can be no wider than the
sum of its series' spreads, so with two backtest origins that a strong shock runs through, the
per-series intervals themselves — which the coverage gate checks — bound how honest totals are.

Engines share origins through :class:`JointDraws`: one uniform per sample, which each engine
maps to its own origins sorted by offset (the newest first). Engines with the same frequency,
last period and backtest windows therefore draw the same calendar origin in the same sample
(supply and demand err together as they did in that year); engines with other windows draw
the origin of the same rank. A run creates one and passes it to every engine::

    joint = JointDraws.draw(settings.n_samples, seed=settings.seed)
    intake = intake_engine.sample(settings.n_samples, seed=settings.seed, joint=joint)
    hiring = hiring_engine.sample(settings.n_samples, seed=settings.seed + 2, joint=joint)

Each engine's own seed still drives its residual draws and kernel jitter, so one seed and one
``JointDraws`` give the same samples every time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Self

import numpy as np

#: Share of each end of the series cut before averaging the common part: one wild series (a
#: tiny scale, a data error) must not become a shock shared by every series.
TRIM: Final = 0.1


@dataclass(frozen=True, eq=False)
class JointDraws:
    """What samples of several engines share: one uniform in [0, 1) per sample choosing the
    backtest origin (as a rank among each engine's origins sorted by offset)."""

    origin: np.ndarray

    def __post_init__(self) -> None:
        origin = np.asarray(self.origin, dtype=float)
        if origin.ndim != 1 or origin.size == 0:
            raise ValueError("origin must be a non-empty 1-d array, one uniform per sample")
        if not ((origin >= 0) & (origin < 1)).all():
            raise ValueError("origin uniforms must lie in [0, 1)")
        object.__setattr__(self, "origin", origin)

    @classmethod
    def draw(cls, n_samples: int, seed: int | None = None) -> Self:
        """Fresh draws for ``n_samples`` joint samples."""
        if n_samples < 1:
            raise ValueError(f"n_samples must be positive, got {n_samples}")
        return cls(np.random.default_rng(seed).random(n_samples))

    @property
    def n_samples(self) -> int:
        return int(self.origin.size)

    def origin_index(self, n_origins: int) -> np.ndarray:
        """Each sample's origin among ``n_origins`` sorted by offset (0 = the newest)."""
        return np.minimum((self.origin * n_origins).astype(int), n_origins - 1)


@dataclass(frozen=True, eq=False)
class OriginErrors:
    """Complete scaled backtest error paths, grouped by origin and split into a common path per
    origin and idiosyncratic residuals (see the module docstring).

    ``offsets`` (origins,) ascending; ``common`` (origins, steps) after shrinkage;
    ``residuals`` all residual paths (rows, steps), widened, origin by origin, with
    ``starts``/``counts`` locating each origin's rows; ``centre``, ``bandwidth`` and
    ``squeeze`` (steps,) drive the kernel jitter of the common part.
    """

    offsets: np.ndarray
    common: np.ndarray
    residuals: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    centre: np.ndarray
    bandwidth: np.ndarray
    squeeze: np.ndarray

    @classmethod
    def from_errors(cls, errors: np.ndarray, offsets: np.ndarray) -> Self:
        """Decompose complete error paths ``errors`` (rows, steps) whose origins are
        ``offsets`` (rows,)."""
        errors = np.asarray(errors, dtype=float)
        offsets = np.asarray(offsets)
        if errors.ndim != 2 or errors.shape[0] == 0 or not np.isfinite(errors).all():
            raise ValueError("errors must be a non-empty (rows, steps) array of finite paths")
        if offsets.shape != (errors.shape[0],):
            raise ValueError("offsets must give one origin per row of errors")
        origins = np.unique(offsets)
        steps = errors.shape[1]
        common = np.zeros((origins.size, steps))
        noise = np.full((origins.size, steps), np.nan)
        parts, counts = [], []
        for index, origin in enumerate(origins):
            rows = errors[offsets == origin]
            n = rows.shape[0]
            if n > 1:
                common[index], noise[index] = _robust_mean(rows)
            parts.append(rows - common[index])
            counts.append(n)
        # Shrink the common paths so that their mean square loses the averaging noise, pooled
        # over the origins with a cross-section (the noise of one origin's mean is too
        # uncertain to correct on its own).
        split = np.isfinite(noise[:, 0])
        shrink = np.ones(steps)
        if split.any():
            square = np.mean(common[split] ** 2, axis=0)
            excess = np.mean(noise[split], axis=0)
            shrink = np.sqrt(
                np.clip(1 - np.divide(excess, square, out=np.ones(steps), where=square > 0), 0, 1)
            )
        common = common * shrink[None, :]
        residuals = [
            part * (np.sqrt(n / (n - 1)) if n > 1 else 1.0)
            for part, n in zip(parts, counts, strict=True)
        ]
        count_array = np.array(counts, dtype=int)
        centre, bandwidth, squeeze = _kernel(common)
        return cls(
            offsets=origins,
            common=common,
            residuals=np.concatenate(residuals),
            starts=np.concatenate([[0], np.cumsum(count_array)[:-1]]).astype(int),
            counts=count_array,
            centre=centre,
            bandwidth=bandwidth,
            squeeze=squeeze,
        )

    @property
    def n_origins(self) -> int:
        return int(self.offsets.size)

    @property
    def steps(self) -> int:
        return int(self.common.shape[1])

    def common_share(self) -> np.ndarray:
        """Per step, the share of the sampled error variance that is common to all series
        (the correlation the samples will show between two series of the same scale)."""
        common = np.mean(self.common**2, axis=0)
        idiosyncratic = np.mean(self.residuals**2, axis=0)
        total = common + idiosyncratic
        return np.divide(common, total, out=np.zeros_like(total), where=total > 0)

    def draw(self, origin: np.ndarray, n_series: int, rng: np.random.Generator) -> np.ndarray:
        """Scaled error paths (samples, n_series, steps): sample s uses origin ``origin[s]``
        (an index into :attr:`offsets`) for every series."""
        origin = np.asarray(origin, dtype=int)
        n_samples = origin.size
        jitter = rng.standard_normal(n_samples)
        common = self.centre[None, :] + self.squeeze[None, :] * (
            self.common[origin] - self.centre[None, :] + jitter[:, None] * self.bandwidth[None, :]
        )
        counts = self.counts[origin][:, None]
        within = (rng.random((n_samples, n_series)) * counts).astype(int)
        rows = self.starts[origin][:, None] + np.minimum(within, counts - 1)
        return common[:, None, :] + self.residuals[rows]


def _robust_mean(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trimmed mean per step of ``rows`` (n ≥ 2, steps) and its sampling variance (the
    winsorised variance over (1 − 2g/n)² n, g values cut from each end)."""
    n = rows.shape[0]
    cut = int(TRIM * n)
    ordered = np.sort(rows, axis=0)
    mean = ordered[cut : n - cut].mean(axis=0)
    winsorised = np.clip(rows, ordered[cut], ordered[n - 1 - cut])
    variance = winsorised.var(axis=0, ddof=1) / ((1 - 2 * cut / n) ** 2 * n)
    return mean, variance


def _kernel(common: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre, Silverman bandwidth and the factor that rescales jittered common paths about
    the centre to the unbiased variance over origins, per step of the common paths (origins,
    steps); no jitter with fewer than two origins."""
    n_origins, steps = common.shape
    centre = common.mean(axis=0)
    if n_origins < 2:
        return centre, np.zeros(steps), np.ones(steps)
    spread = common.std(axis=0, ddof=1)
    quartiles = np.quantile(common, [0.25, 0.75], axis=0)
    iqr = (quartiles[1] - quartiles[0]) / 1.34
    scale = np.where(iqr > 0, np.minimum(spread, iqr), spread)
    bandwidth = 0.9 * scale * n_origins ** (-0.2)
    plug_in = common.var(axis=0)
    squeeze = np.sqrt(
        np.divide(spread**2, plug_in + bandwidth**2, out=np.ones(steps), where=plug_in > 0)
    )
    return centre, bandwidth, squeeze
