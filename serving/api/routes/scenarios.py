"""``POST /scenarios``: what-if questions answered from a run's joint samples."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from data.store import StoreError
from data.store.persons import MEAN_DECIMALS, round_persons
from data.vocabulary import Level
from forecasting.balance import TOTAL
from forecasting.scenarios import BalanceSamples, ScenarioError, evaluate_scenario
from serving.api.deps import Allow, CacheDep, RegionDep, RunDep, SettingsDep, StoreDep
from serving.api.pages import check_code, output_row_model
from serving.api.problems import JSON_BODY_ERRORS, RUN_ERRORS
from serving.auth import PLANNERS, Principal

router = APIRouter(tags=["scenarios"])
Planner = Annotated[Principal, Depends(Allow(PLANNERS))]
BalanceRow = output_row_model("balance")


class QuotaChange(BaseModel):
    """One programme's intake in one year under the scenario."""

    model_config = ConfigDict(extra="forbid")

    programme_code: str = Field(examples=["080717T"])
    level: Level
    quota: float = Field(ge=0, le=100_000, description="Entrants in the intake year.")
    intake_year: int | None = Field(
        default=None, description="Default: the run's first forecast year (next intake)."
    )


class ScenarioIn(BaseModel):
    """Quota changes and demand shocks to evaluate against business as usual."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "quotas": [{"programme_code": "080717T", "level": "bachelor", "quota": 300}],
                    "demand_shocks": {"ic": 0.8},
                }
            ]
        },
    )

    quotas: list[QuotaChange] = Field(default_factory=list, max_length=1000)
    demand_shocks: dict[str, float] = Field(
        default_factory=dict, description="Field → factor on its demand in every year (0-10)."
    )
    fields: list[str] | None = Field(
        default=None,
        description="Fields whose rows to return (default: those the scenario touches).",
    )


class ScenarioOut(BaseModel):
    """The balance under the scenario next to business as usual, and both expected costs."""

    run_id: int
    watermark: int
    costs: dict[str, float] = Field(
        description="Expected shortage and surplus over the horizon, in persons and in cost "
        "(persons × the tier's weight), to one decimal."
    )
    baseline_costs: dict[str, float] = Field(description="The same for business as usual.")
    balance: list[BalanceRow]  # type: ignore[valid-type]
    baseline: list[BalanceRow]  # type: ignore[valid-type]


@router.post(
    "/scenarios",
    response_model=ScenarioOut,
    summary="What-if scenario",
    responses={**RUN_ERRORS, **JSON_BODY_ERRORS},
)
def scenario(
    body: ScenarioIn,
    principal: Planner,
    run: RunDep,
    store: StoreDep,
    cache: CacheDep,
    settings: SettingsDep,
    region: RegionDep,
) -> ScenarioOut:
    """Evaluate quota changes (per programme and intake year) and demand shocks (per field) on
    the run's joint samples: supply moves through the cohort pipeline, demand by the shocks.
    Answers in about a second, without retraining."""
    plan = settings.region_plan()
    if not plan.single and region == plan.top:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"query parameter 'region': what-if questions are answered for one of "
            f"{', '.join(plan.regions)} (quotas are set city by city), not for {region}",
        )
    try:
        samples = cache.samples(store, run.id, None if plan.single else region)
    except StoreError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    known = set(samples.fields)
    for field in [*(body.fields or []), *body.demand_shocks]:
        check_code(field, known, "field")
    quotas: dict[str, dict[int, float]] = {}
    for change in body.quotas:
        key = f"{change.programme_code}|{change.level.value}"
        year = change.intake_year if change.intake_year is not None else samples.first_year
        quotas.setdefault(key, {})[year] = change.quota
    try:
        result = evaluate_scenario(samples, quotas, body.demand_shocks)
    except ScenarioError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    shown = set(body.fields) if body.fields is not None else _touched(samples, quotas, body)
    shown.add(TOTAL)

    def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
        table = round_persons(frame[frame["field_code"].isin(shown)].assign(region=region))
        return table.astype(object).where(table.notna(), None).to_dict(orient="records")

    return ScenarioOut(
        run_id=run.id,
        watermark=run.watermark,
        costs=_means(result.costs),
        baseline_costs=_means(result.baseline_costs),
        balance=rows(result.balance),
        baseline=rows(result.baseline),
    )


def _means(costs: dict[str, float]) -> dict[str, float]:
    """Expected costs are means of persons (weighted by tier): served to one decimal."""
    return {name: round(value, MEAN_DECIMALS) for name, value in costs.items()}


def _touched(
    samples: BalanceSamples, quotas: dict[str, dict[int, float]], body: ScenarioIn
) -> set[str]:
    """Fields the changed programmes' graduates enter, and the shocked fields."""
    fields = set(body.demand_shocks)
    position = {key: i for i, key in enumerate(samples.programmes)}
    for key in quotas:
        if key in position:
            weights = samples.weights[position[key]]
            fields |= {samples.fields[f] for f in range(len(weights)) if weights[f] > 0}
    return fields
