"""Named random streams, so that each random component of the demo has its own generator.

A stream is seeded by the demo seed and a stable hash of its name (e.g. a programme's code and
level plus the component), never by the order in which things are generated: adding a
programme to the catalog, or a component to the generator, leaves every other draw unchanged.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stream(seed: int, *parts: str) -> np.random.Generator:
    """A generator for the component named by ``parts`` under ``seed``."""
    digest = hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()
    return np.random.default_rng([seed, int(digest[:8], 16)])
