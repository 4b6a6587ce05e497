"""Simulated cities with known truth, to score the product's balance honestly.

``simulate(WORLDS["steady"], seed)`` gives a :class:`SimulatedCity` (catalog, upload frames,
truth); ``load_into_store(city, store)`` ingests it as yearly vintages. README.md beside this
package describes the model.
"""

from experiments.simcity.load import load_into_store
from experiments.simcity.simulate import SimulatedCity, simulate
from experiments.simcity.world import TRAJECTORIES, WORLDS, WorldSpec

__all__ = ["TRAJECTORIES", "WORLDS", "SimulatedCity", "WorldSpec", "load_into_store", "simulate"]
