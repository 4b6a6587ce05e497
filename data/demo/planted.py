"""Planted cases: programmes whose outcomes and intake follow the employment rules on purpose.

The employment rules (``forecasting.rules.Policy.default``: quota cuts under 60 %, stops under
40 %) and the
duplicate-programme signal need cases to find in the demo. They are chosen by level and field
(highest crosswalk weight, then lowest code), never by a fixed code, so any catalog that has
such programmes gets them; ``README.md`` names the codes chosen with the shipped catalog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import pandas as pd

from data.demo.calibration import LATENT_YEARS
from data.vocabulary import Level

if TYPE_CHECKING:
    from data.demo.supply import Programme

_INDEX: Final = {year: i for i, year in enumerate(LATENT_YEARS)}

PLANTED_LOW_PLACEMENT: Final = "a_low_placement"
PLANTED_STOPPED: Final = "b_stopped"
PLANTED_DUPLICATE: Final = "c_duplicate"
_DUPLICATE_EFFECT: Final = -0.09


def _candidates(
    programmes: list[Programme], level: str, fields: tuple[str, ...], graduating_by: int
) -> list[Programme]:
    """Programmes of ``level`` mostly in ``fields``, with graduates by ``graduating_by``."""
    found = [
        p
        for p in programmes
        if p.level == level
        and not p.planted
        and sum(p.weights.get(f, 0.0) for f in fields) >= 0.5
        and (p.first_graduation is None or p.first_graduation <= graduating_by)
    ]
    return sorted(found, key=lambda p: (-sum(p.weights.get(f, 0.0) for f in fields), p.code))


def choose_planted(programmes: list[Programme]) -> pd.DataFrame:
    """Pick the planted programmes deterministically by level and field (see README)."""
    rows = []
    for fields in (("logistics",), ("ecommerce",)):
        found = _candidates(programmes, Level.BACHELOR, fields, 2021)
        if found:
            found[0].planted = PLANTED_LOW_PLACEMENT
            rows.append(_planted_row(found[0], "placement 0.55-0.59 in 2022 and 2023"))
            break
    for level in (Level.HIGHER_VOCATIONAL, Level.SECONDARY_VOCATIONAL):
        found = _candidates(programmes, level, ("tourism",), 2019)
        if found:
            found[0].planted = PLANTED_STOPPED
            rows.append(
                _planted_row(found[0], "placement 0.36-0.39 in 2020 and 2021; no intake from 2023")
            )
            break
    groups = [
        (level, fields)
        for level in (Level.HIGHER_VOCATIONAL, Level.SECONDARY_VOCATIONAL, Level.BACHELOR)
        for fields in (("ecommerce",), ("logistics",))
    ]
    best = max(groups, key=lambda g: len(_candidates(programmes, g[0], g[1], 2016)), default=None)
    if best is not None:
        found = _candidates(programmes, best[0], best[1], 2016)
        if len(found) >= 2:
            for programme in found:
                programme.planted = PLANTED_DUPLICATE
                programme.placement_effect = _DUPLICATE_EFFECT
                programme.in_field_effect = -0.05
                rows.append(_planted_row(programme, "placement ~9 points below its level"))
    columns = ["case", "programme_code", "level", "name_zh", "description"]
    return pd.DataFrame(rows, columns=columns)


def _planted_row(programme: Programme, description: str) -> dict[str, str]:
    return {
        "case": programme.planted,
        "programme_code": programme.code,
        "level": programme.level,
        "name_zh": programme.name_zh,
        "description": description,
    }


def apply_planted_intake(programmes: list[Programme]) -> None:
    """Quota responses to the rules: a cut after two weak years, a stop after two very weak ones."""
    for programme in programmes:
        if programme.planted == PLANTED_LOW_PLACEMENT:
            programme.entrants[_INDEX[2024] :] *= 0.75
        elif programme.planted == PLANTED_STOPPED:
            programme.entrants[_INDEX[2022]] *= 0.6
            programme.entrants[_INDEX[2023] :] = 0.0


#: Placement forced for planted programmes: {case: {year: (low, high)}}.
FORCED_PLACEMENT: Final[dict[str, dict[int, tuple[float, float]]]] = {
    PLANTED_LOW_PLACEMENT: {
        2021: (0.64, 0.67),
        2022: (0.555, 0.585),
        2023: (0.565, 0.59),
        2024: (0.61, 0.64),
        2025: (0.63, 0.66),
    },
    PLANTED_STOPPED: {
        2019: (0.62, 0.66),
        2020: (0.365, 0.385),
        2021: (0.37, 0.39),
        2022: (0.44, 0.47),
        2023: (0.50, 0.53),
        2024: (0.53, 0.56),
        2025: (0.55, 0.58),
    },
}
