"""The parameters of a simulated city: one frozen :class:`WorldSpec` per world.

A world is a family of cities, not one city: the seed draws which fields and programmes it has,
which field gets which demand trajectory, the start levels, the noise. The three worlds in
:data:`WORLDS` differ in what makes forecasting hard — noise, shocks, drifting posting scales,
biased surveys, short histories, few fields with hires, small counts — so that a method is
scored on more than one kind of city (README.md beside this module explains every equation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Demand trajectory types; every world with at least six fields has all of them.
TRAJECTORIES: Final = ("boom", "steady", "flat", "declining", "shock", "late_boom")

#: Trajectories whose fields get new programmes, and those whose fields lose some.
GROWING: Final = frozenset({"boom", "steady", "late_boom"})
SHRINKING: Final = frozenset({"declining"})


@dataclass(frozen=True)
class LevelProfile:
    """What a level's programmes look like at the start: base rates at a balanced market
    (tightness 0, before field and programme effects), completion and a typical intake."""

    completion: float
    intake: float
    placement: float
    infield: float
    local: float


#: Levels the simulator can populate (secondary vocational graduates are not simulated: the
#: catalog keeps only its required ``other`` line there).
LEVEL_PROFILES: Final[dict[str, LevelProfile]] = {
    "higher_vocational": LevelProfile(0.92, 260.0, 0.90, 0.55, 0.72),
    "bachelor": LevelProfile(0.95, 190.0, 0.88, 0.60, 0.55),
    "master": LevelProfile(0.96, 70.0, 0.92, 0.70, 0.50),
    "doctor": LevelProfile(0.88, 12.0, 0.95, 0.80, 0.45),
}


@dataclass(frozen=True)
class WorldSpec:
    """Everything that distinguishes one world from another (years, sizes, noise, responses).

    Years: intake is observed from ``first_enrollment_year``, graduates and outcomes from
    ``first_outcome_year``, hiring from ``first_hiring_year``, surveys are filed from
    ``first_survey_year``; everything up to ``last_year`` is observed, the truth continues
    ``future_years`` further. Shares are of the world's fields; sds are on the log (demand,
    postings, surveys, intake) or logit (rates) scale.
    """

    name: str
    n_fields: int
    levels: tuple[str, ...] = ("higher_vocational", "bachelor", "master")
    first_enrollment_year: int = 2008
    first_outcome_year: int = 2011
    first_hiring_year: int = 2012
    first_survey_year: int = 2015
    last_year: int = 2025
    future_years: int = 6
    max_programmes: int = 4
    intake_scale: float = 1.0
    # demand
    ratio_sd: float = 0.3
    demand_noise: float = 0.05
    level_drift_sd: float = 0.01
    shock_depth: tuple[float, float] = (0.25, 0.40)
    extra_shock_share: float = 0.0
    # supply: planner and programme life
    planner_response: float = 0.3
    planner_clip: float = 0.15
    intake_noise: float = 0.04
    open_share: float = 0.3
    close_share: float = 0.3
    # rates
    beta_placement: float = 0.2
    beta_infield: float = 0.6
    beta_local: float = 0.0
    field_sd: float = 0.1
    rate_noise: float = 0.05
    # signals
    posting_sd: float = 0.05
    posting_drift: float = 0.0
    hires_share: float = 0.6
    quarterly_hiring: bool = False
    survey_share: float = 0.8
    survey_sd: float = 0.1
    survey_bias_mean: float = 0.15
    survey_bias_sd: float = 0.3

    def __post_init__(self) -> None:
        unknown = [level for level in self.levels if level not in LEVEL_PROFILES]
        if unknown:
            raise ValueError(f"levels without a profile: {unknown}")
        if self.n_fields < 2:
            raise ValueError("a world needs at least two fields")
        order = (
            self.first_enrollment_year,
            self.first_outcome_year,
            self.first_hiring_year,
            self.last_year,
        )
        if list(order) != sorted(order) or self.first_outcome_year <= self.first_enrollment_year:
            raise ValueError(f"years out of order: {order}")
        if not self.first_outcome_year <= self.first_survey_year <= self.last_year:
            raise ValueError("surveys must start within the observed years")
        if not 1 <= self.future_years <= 10:
            raise ValueError("future_years must be 1-10")
        for name in ("hires_share", "survey_share", "open_share", "close_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a share")

    @property
    def end_year(self) -> int:
        """The last year of the truth."""
        return self.last_year + self.future_years


WORLDS: Final[dict[str, WorldSpec]] = {
    # Ten fields, low noise, long history, most fields with hires, mild survey bias.
    "steady": WorldSpec(name="steady", n_fields=10),
    # Twelve fields, noisy demand and rates, extra shocks, posting scales drifting ±2%/yr,
    # strongly biased and noisy surveys, few fields with hires, quarterly hiring rows,
    # strong responses of outcome rates to tightness.
    "volatile": WorldSpec(
        name="volatile",
        n_fields=12,
        ratio_sd=0.4,
        demand_noise=0.10,
        extra_shock_share=0.25,
        intake_noise=0.08,
        open_share=0.5,
        close_share=0.5,
        beta_placement=0.4,
        beta_infield=1.0,
        beta_local=0.1,
        field_sd=0.3,
        rate_noise=0.12,
        posting_sd=0.15,
        posting_drift=0.02,
        hires_share=0.4,
        quarterly_hiring=True,
        survey_share=0.6,
        survey_sd=0.2,
        survey_bias_mean=0.3,
        survey_bias_sd=0.4,
    ),
    # Eight fields down to doctorates with a handful of graduates, history from 2013, hires
    # for two fields only.
    "sparse": WorldSpec(
        name="sparse",
        n_fields=8,
        levels=("higher_vocational", "bachelor", "master", "doctor"),
        first_enrollment_year=2013,
        first_outcome_year=2016,
        first_hiring_year=2016,
        first_survey_year=2018,
        max_programmes=3,
        intake_scale=0.6,
        ratio_sd=0.35,
        demand_noise=0.08,
        extra_shock_share=0.1,
        intake_noise=0.06,
        open_share=0.2,
        close_share=0.2,
        beta_placement=0.3,
        beta_infield=0.8,
        beta_local=0.05,
        field_sd=0.2,
        rate_noise=0.08,
        posting_sd=0.10,
        hires_share=0.25,
        survey_share=0.7,
        survey_sd=0.15,
    ),
    # Nine fields in a city where no employer reports hires and no association files a
    # survey: postings and outcomes are all there is, every scale is read from outcome rates
    # and no survey foretells a late boom. Moderate noise, posting scales drifting ±1%/yr.
    "silent": WorldSpec(
        name="silent",
        n_fields=9,
        first_enrollment_year=2010,
        first_outcome_year=2013,
        first_hiring_year=2013,
        first_survey_year=2016,
        ratio_sd=0.35,
        demand_noise=0.07,
        extra_shock_share=0.15,
        intake_noise=0.06,
        open_share=0.4,
        close_share=0.4,
        beta_placement=0.3,
        beta_infield=0.7,
        beta_local=0.05,
        field_sd=0.15,
        rate_noise=0.07,
        posting_sd=0.08,
        posting_drift=0.01,
        hires_share=0.0,
        survey_share=0.0,
    ),
}
