"""Shared fixtures.

Store tests run against SQLite and PostgreSQL. The PostgreSQL server comes from
``TALENTCAST_TEST_POSTGRES_URL`` (default: the local server at 127.0.0.1:5432, database
``test``); each test gets its own schema, dropped afterwards, so runs never see each other's
rows. An unreachable server is an error, not a skip: set the variable to ``none`` to deselect
the PostgreSQL half explicitly (it is then reported as deselected, never as passed).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from threadpoolctl import threadpool_limits

from data.catalog import Catalog, load_default_catalog
from data.ingest import open_store
from data.store import Store
from data.store.engine import normalise_url

if TYPE_CHECKING:
    from distributed import LocalCluster

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url() -> str | None:
    value = os.environ.get("TALENTCAST_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    return None if value.strip().lower() in {"", "none"} else value


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if postgres_url() is not None:
        return
    deselected = [item for item in items if "postgres" in item.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if "postgres" not in item.keywords]


@pytest.fixture(scope="session", autouse=True)
def _single_threaded_blas() -> Iterator[None]:
    """Model fits in tests are tiny: multi-threaded BLAS only makes them slower (up to tenfold
    when pytest-xdist workers compete for the cores)."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def default_catalog() -> Catalog:
    return load_default_catalog()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    url = postgres_url()
    assert url is not None, "PostgreSQL tests were not deselected"
    engine = sa.create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
    except sa.exc.OperationalError as error:
        pytest.fail(
            f"PostgreSQL at {url} is not reachable ({error.orig}). Start it, point "
            "TALENTCAST_TEST_POSTGRES_URL at a server, or set it to 'none' to deselect."
        )
    finally:
        engine.dispose()
    return url


@contextmanager
def _fresh_schema(server: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalise_url(server))
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = normalise_url(server).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_schema_url(postgres_server: str) -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema (dropped after the test)."""
    with _fresh_schema(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_schemas(postgres_server: str) -> Callable[[], AbstractContextManager[str]]:
    """Fresh schemas on demand, for fixtures that outlive one test (a module's server): each
    call gives a context manager with the URL of a new empty schema, dropped on exit."""
    return lambda: _fresh_schema(postgres_server)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store with Tianjin's catalog, on each backend."""
    opened = open_store(store_url, catalog=load_default_catalog())
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[LocalCluster]:
    """A real Dask cluster for a module's tests, as an operator's `dask scheduler` and `dask
    worker`s would be: two single-threaded worker processes (processes, as in production:
    they start in about a second here)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    ) as cluster:
        yield cluster
