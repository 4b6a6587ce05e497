"""How probabilities are written for planners, in reasons and on pages alike.

A planner reads "100%" as "certain". Rounded to whole percents, 0.996 would read so although
four samples in a thousand disagree, and a ranking would then seem to put a "100%" below a
"99%". So the ends are written ">99%" and "<1%"; only exactly 1 and 0 read "100%" and "0%".
"""

from __future__ import annotations

import math


def format_probability(value: float | None, digits: int = 0) -> str:
    """``value`` as a percentage with ``digits`` decimals that never rounds to 0% or 100%
    unless it is exactly 0 or 1; an em dash for a missing value."""
    if value is None or math.isnan(value):
        return "—"
    p = float(value)
    step = 10.0**-digits
    if 0 < p < 1 and round(100 * p, digits) >= 100:
        return f">{100 - step:.{digits}f}%"
    if 0 < p < 1 and round(100 * p, digits) <= 0:
        return f"<{step:.{digits}f}%"
    return f"{100 * p:.{digits}f}%"
