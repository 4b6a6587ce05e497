"""``GET /city``: the settings that make this deployment a city's, for its admin to check.

They are set where every setting is (``TALENTCAST_*`` environment variables or ``.env``, read
once at start-up); this route shows the ones a city chooses, each with what it does, so that
an admin can see what the service runs with without a shell on the server.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from serving.api.deps import Allow, SettingsDep
from serving.auth import ADMINS, Principal
from serving.settings import parse_posting_scales

router = APIRouter(tags=["city"])
Admin = Annotated[Principal, Depends(Allow(ADMINS))]


class CitySettingOut(BaseModel):
    """One setting: its name, where it is set, its value and what it does."""

    name: str
    environment_variable: str
    value: Any
    description: str


class DemandScaleOut(BaseModel):
    """Postings per opening an admin set for a field, with the source of the figure."""

    field_code: str
    postings_per_opening: float
    source: str


class CityOut(BaseModel):
    """The city the service runs for, and its settings (never a secret such as the database
    URL)."""

    name: str
    region: str = Field(description="GB/T 2260 code; uploaded region codes must belong to it.")
    timezone: str
    demand_model: str
    demand_scales: list[DemandScaleOut] = Field(
        description="Admin-set postings per opening (the other fields' are estimated)."
    )
    settings: list[CitySettingOut]


@router.get("/city", response_model=CityOut, summary="The city's settings")
def city(principal: Admin, settings: SettingsDep) -> CityOut:
    """Name, region, time zone, demand-scale sources, demand model and quality-gate
    thresholds, each with its environment variable and description."""
    return CityOut(
        name=settings.city_name,
        region=settings.city_region,
        timezone=settings.retrain_timezone,
        demand_model=settings.demand_model,
        demand_scales=[
            DemandScaleOut(field_code=field, postings_per_opening=value, source=source)
            for field, value, source in parse_posting_scales(settings.posting_scales)
        ],
        settings=[
            CitySettingOut(
                name=name,
                environment_variable=f"TALENTCAST_{name.upper()}",
                value=str(value) if value is not None and not _plain(value) else value,
                description=description,
            )
            for name, value, description in settings.city()
        ],
    )


def _plain(value: object) -> bool:
    return isinstance(value, str | int | float | bool)
