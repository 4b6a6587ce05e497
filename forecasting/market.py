"""The observed market per field × level × year: postings, hires, supply and how graduates chose.

Everything the openings scale (:mod:`forecasting.scales`) and the supply response are estimated
from, in one frame built once per data watermark:

- ``postings`` and ``hires`` (hires NaN where not reported) from the hiring uploads;
- ``supply``: graduates entering the field in the city (placed × in-field share × local share
  through the crosswalk, :func:`forecasting.supply.outcome_flows`);
- ``potential``: graduates of the field's programmes placed in the city, before choosing a
  field (placed × local share through the crosswalk): the pool a tight field draws from;
- ``infield_share`` = supply ÷ potential, ``placement_rate`` = placed ÷ graduates;
- ``tightness_index`` = log(postings ÷ potential): tightness on the postings scale. On the
  openings scale it is this minus the field's log scale, a constant per field, so changes of
  the index over time are changes of true tightness whatever the scale.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from features.talent import TalentData
from forecasting.supply import observed_flows

MARKET_COLUMNS: Final = (
    "field_code",
    "level",
    "year",
    "postings",
    "hires",
    "supply",
    "potential",
    "graduates",
    "infield_share",
    "placement_rate",
    "tightness_index",
)


def market_history(data: TalentData, flows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Observed market per field, level and year where both hiring and outcomes exist
    (``flows``: :func:`~forecasting.supply.observed_flows` of ``data`` when the caller has
    them)."""
    flows = observed_flows(data) if flows is None else flows
    hiring = data.annual_hiring()
    if flows.empty or hiring.empty:
        return pd.DataFrame(columns=list(MARKET_COLUMNS))
    frame = flows.merge(hiring, on=["field_code", "level", "year"], how="inner")
    frame = frame[(frame["potential"] > 0) & (frame["postings"] > 0) & (frame["graduates"] > 0)]
    frame = frame.assign(
        infield_share=(frame["supply"] / frame["potential"]).clip(0, 1),
        placement_rate=(frame["placed"] / frame["graduates"]).clip(0, 1),
        tightness_index=np.log(frame["postings"] / frame["potential"]),
    )
    return frame.loc[:, list(MARKET_COLUMNS)].reset_index(drop=True)
