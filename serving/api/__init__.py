"""The HTTP API (``/api/v1``): one router per resource, dependencies in :mod:`serving.api.deps`."""
