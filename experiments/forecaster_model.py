"""The registered forecaster: an MLflow pyfunc that answers from one run's forecasts.

Logged "from code" by :mod:`experiments.tracking` (MLflow loads this file, not a pickle). The
model carries a run's forecast tables as artifacts; ``predict`` takes a small configuration
frame — one row per question — and returns the matching rows:

================  ==========================================================================
column            meaning
================  ==========================================================================
``output``        ``forecasts`` (series forecasts) or ``balance`` (supply, demand, gap)
``kind``          series kind for ``forecasts`` (enrollment, hiring, tightness, ...); optional
``series_id``     one series (``forecasts``); optional
``field_code``    field; optional
``level``         level; optional
``year``          a year (``balance``) or the year of a period (``forecasts``); optional
================  ==========================================================================

Columns left out, or empty, do not filter. The answer has a ``query`` column with the row
number of the question it answers.
"""

from __future__ import annotations

from typing import Any

import mlflow
import mlflow.models
import pandas as pd
from mlflow.pyfunc import PythonModel

FILTERS = ("kind", "series_id", "field_code", "level")


class RunForecaster(PythonModel):
    """Forecasts of one training run, queried by a configuration frame."""

    def load_context(self, context: Any) -> None:
        self.tables_ = {
            "forecasts": pd.read_csv(context.artifacts["forecasts"], dtype={"period": str}),
            "balance": pd.read_csv(context.artifacts["balance"]),
        }

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        answers = []
        for position, question in enumerate(model_input.to_dict(orient="records")):
            output = str(question.get("output") or "forecasts")
            if output not in self.tables_:
                raise ValueError(
                    f"row {position}: output must be forecasts or balance, got {output!r}"
                )
            table = self.tables_[output]
            mask = pd.Series(True, index=table.index)
            for column in FILTERS:
                value = question.get(column)
                if column in table.columns and value is not None and not pd.isna(value):
                    mask &= table[column].astype(str) == str(value)
            year = question.get("year")
            if year is not None and not pd.isna(year):
                years = table["year"] if "year" in table else table["period"].str[:4].astype(int)
                mask &= years == int(year)
            answers.append(table[mask].assign(query=position))
        if not answers:
            return pd.DataFrame()
        return pd.concat(answers, ignore_index=True)


mlflow.models.set_model(RunForecaster())
