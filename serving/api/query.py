"""Unknown query parameters are refused, on every API route, from the route's own declaration.

A misspelt or unsupported filter (``/forecasts?series_id=...``) would otherwise be ignored and
answer every row as if it had been applied. The accepted names are the query parameters the
route declares, its dependencies' included (``run_id``, ``limit``, ...), i.e. exactly what the
OpenAPI document lists for it.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute


class RejectUnknownQuery:
    """Router dependency: 422 naming each query parameter the route does not declare, with the
    ones it accepts. The accepted names are worked out once per route and kept."""

    def __init__(self) -> None:
        self._accepted: dict[str, frozenset[str]] = {}

    async def __call__(self, request: Request) -> None:
        if not request.query_params:
            return
        route = request.scope.get("route")
        if not isinstance(route, APIRoute):
            return
        accepted = self._accepted.get(route.unique_id)
        if accepted is None:
            accepted = query_names(route.dependant)
            self._accepted[route.unique_id] = accepted
        unknown = [name for name in dict.fromkeys(request.query_params) if name not in accepted]
        if unknown:
            listed = ", ".join(sorted(accepted)) or "none"
            raise RequestValidationError(
                [
                    {
                        "type": "unknown_parameter",
                        "loc": ("query", name),
                        "msg": f"unknown query parameter; {route.path} accepts: {listed}",
                        "input": request.query_params.get(name),
                    }
                    for name in unknown
                ]
            )


def query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters (by the name a client sends) of a route or dependency and of
    everything it depends on."""
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= query_names(dependency)
    return frozenset(names)
