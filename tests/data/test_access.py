"""API keys and the audit log on SQLite and PostgreSQL: checks, uniqueness among active keys,
lookups by hash, and audit rows written in the transaction of the write they describe."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from support import csv_bytes

from data.catalog import Catalog, load_default_catalog
from data.ingest import ingest_catalog, ingest_file, open_store
from data.problems import UploadRejected
from data.readers import read_table
from data.store import AuditRecord, KeyRecord, Store, StoreError, UnknownKey
from data.store.access import AccessStore
from data.store.tables import api_keys, audit_log, metadata, runs, sessions, uploads
from data.validation import ValidationContext, validate
from data.vocabulary import Role

ENROLLMENT = pd.DataFrame(
    {
        "year": [2019, 2020],
        "programme_code": ["080717T", "080901"],
        "level": ["bachelor", "bachelor"],
        "enrolled": [120, 2400],
    }
)


def sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def counts(store: Store) -> dict[str, int]:
    """Rows of the tables a refused write must leave alone."""
    with store.engine.connect() as connection:
        return {
            table.name: int(
                connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            )
            for table in (api_keys, audit_log, uploads, runs)
        }


def new_rows(store: Store, before: dict[str, int]) -> dict[str, int]:
    return {name: count - before[name] for name, count in counts(store).items()}


def planner(store: Store, name: str = "planner-1", secret: str = "s1") -> KeyRecord:
    return store.create_key(name, Role.PLANNER, [], sha(secret), secret[:10], actor="root")


# -- keys ------------------------------------------------------------------------------------


def test_keys_are_created_listed_and_revoked(store: Store) -> None:
    before = datetime.now(UTC)
    fields = ["ic", "ai"]
    plan = store.create_key("bureau", "planner", (), sha("a"), "tc_aaaa", actor="root")
    assoc = store.create_key(
        "assoc-ic", Role.ASSOCIATION, fields, sha("b"), "tc_bbbb", actor="root"
    )
    assert fields == ["ic", "ai"], "the caller's list is not changed"
    assert plan.role is Role.PLANNER
    assert plan.fields == ()
    assert assoc.role is Role.ASSOCIATION
    assert assoc.fields == ("ic", "ai")
    assert assoc.key_prefix == "tc_bbbb"
    assert assoc.created_by == "root"
    assert before <= assoc.created_at <= datetime.now(UTC)
    assert assoc.created_at.tzinfo is not None
    assert assoc.active
    assert assoc.revoked_at is None
    assert not hasattr(assoc, "key_hash"), "records never carry the hash"
    assert store.keys() == [plan, assoc]

    revoked = store.revoke_key("assoc-ic", actor="root")
    assert not revoked.active
    assert revoked.revoked_at is not None
    assert revoked.revoked_at.tzinfo is not None
    assert assoc.created_at <= revoked.revoked_at <= datetime.now(UTC)
    assert (revoked.id, revoked.fields) == (assoc.id, assoc.fields)
    assert store.keys() == [plan]
    assert store.keys(include_revoked=True) == [plan, revoked]


def test_key_by_hash_finds_active_keys_only(store: Store) -> None:
    key = store.create_key("assoc-ic", "association", ["ic"], sha("x"), "tc_x", actor="root")
    assert store.key_by_hash(sha("x")) == key
    assert store.key_by_hash(sha("x").upper()) == key
    assert store.key_by_hash(sha("y")) is None
    assert store.key_by_hash("") is None
    assert store.key_by_hash("not a hash") is None
    store.revoke_key("assoc-ic", actor="root")
    assert store.key_by_hash(sha("x")) is None


def test_a_name_is_unique_among_active_keys_only(store: Store) -> None:
    first = planner(store, "bureau", "one")
    before = counts(store)
    with pytest.raises(StoreError, match="an active key named 'bureau' exists; revoke it first"):
        planner(store, "bureau", "two")
    assert new_rows(store, before) == dict.fromkeys(before, 0)

    store.revoke_key("bureau", actor="root")
    second = planner(store, "bureau", "two")
    assert second.id != first.id
    assert store.keys() == [second]
    assert [k.name for k in store.keys(include_revoked=True)] == ["bureau", "bureau"]
    assert store.key_by_hash(sha("two")) == second
    assert store.key_by_hash(sha("one")) is None


BAD_KEYS: dict[str, tuple[dict[str, Any], str]] = {
    "association without fields": (
        {"role": "association", "fields": []},
        "an association key needs at least one field code",
    ),
    "planner with fields": (
        {"role": "planner", "fields": ["ic"]},
        r"a planner key has no fields .* got \['ic'\]",
    ),
    "admin with fields": ({"role": Role.ADMIN, "fields": ["ai"]}, "an? admin key has no fields"),
    "unknown field": (
        {"role": "association", "fields": ["ic", "quantum"]},
        r"unknown field codes \['quantum'\]; the catalog's fields are ai, ic, aeroengine",
    ),
    "unknown role": (
        {"role": "superuser"},
        "unknown role 'superuser'; roles are planner, association, admin",
    ),
    "fields as one string": ({"role": "association", "fields": "ic"}, "collection of field"),
    "field with a comma": ({"role": "association", "fields": ["ic,ai"]}, "without commas"),
    "short hash": ({"key_hash": "abc123"}, "SHA-256 of the secret as 64 hex digits"),
    "non-hex hash": ({"key_hash": "z" * 64}, "SHA-256 of the secret as 64 hex digits"),
    "empty name": ({"name": "  "}, "key name must be non-empty text"),
    "long name": ({"name": "n" * 101}, "key name 'nnn.*longer than 100 characters"),
    "long prefix": ({"key_prefix": "tc_" + "p" * 20}, "key prefix .* longer than 16"),
    "no actor": ({"actor": ""}, "actor must be non-empty text"),
}


@pytest.mark.parametrize("case", list(BAD_KEYS))
def test_bad_keys_are_refused_naming_the_problem_and_nothing_is_written(
    store: Store, case: str
) -> None:
    arguments: dict[str, Any] = {
        "name": "assoc",
        "role": "planner",
        "fields": [],
        "key_hash": sha("secret"),
        "key_prefix": "tc_secret",
        "actor": "root",
    }
    changes, message = BAD_KEYS[case]
    arguments.update(changes)
    before = counts(store)
    with pytest.raises(StoreError, match=message):
        store.create_key(**arguments)
    assert new_rows(store, before) == dict.fromkeys(before, 0)
    assert store.keys(include_revoked=True) == []


def test_a_hash_is_never_reused_even_after_revocation(store: Store) -> None:
    planner(store, "old", "same secret")
    store.revoke_key("old", actor="root")
    before = counts(store)
    with pytest.raises(StoreError, match="same hash; generate a new secret"):
        planner(store, "new", "same secret")
    assert new_rows(store, before) == dict.fromkeys(before, 0)


def test_fields_are_checked_against_the_newest_catalog(
    store: Store, default_catalog: Catalog
) -> None:
    long = default_catalog.to_long_programmes()
    aero = set(long.loc[long["field_code"] == "aeroengine", "programme_code"])
    fields = default_catalog.fields
    stored = ingest_catalog(
        store,
        csv_bytes(long[~long["programme_code"].isin(aero)]),
        fields=csv_bytes(fields[fields["field_code"] != "aeroengine"]),
        uploader="admin",
    )
    assert stored.created
    assert only(store.audit_log(actor="admin")).action == "catalog"
    before = counts(store)
    with pytest.raises(StoreError, match=r"unknown field codes \['aeroengine'\]"):
        store.create_key("aero", "association", ["aeroengine"], sha("a"), "tc_a", actor="r")
    assert new_rows(store, before) == dict.fromkeys(before, 0)
    assert store.create_key("ic", "association", ["ic"], sha("a"), "tc_a", actor="r").active


def test_revoking_an_unknown_name_lists_the_active_keys(store: Store) -> None:
    planner(store, "bureau", "1")
    planner(store, "gone", "2")
    store.revoke_key("gone", actor="root")
    before = counts(store)
    with pytest.raises(UnknownKey, match="no active key named 'gone'; active keys: 'bureau'"):
        store.revoke_key("gone", actor="root")
    with pytest.raises(LookupError):
        store.revoke_key("never", actor="root")
    assert new_rows(store, before) == dict.fromkeys(before, 0)


def test_concurrent_creations_of_one_name_store_one_key(store_url: str) -> None:
    store = open_store(store_url, catalog=load_default_catalog())
    created: list[KeyRecord] = []
    refused: list[StoreError] = []
    errors: list[BaseException] = []

    def create(i: int) -> None:
        try:
            created.append(planner(store, "bureau", f"secret {i}"))
        except StoreError as error:
            refused.append(error)
        except BaseException as error:  # noqa: BLE001 - collected and re-raised below
            errors.append(error)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(created) == 1
    assert len(refused) == 5
    assert store.keys() == created
    assert len(store.audit_log(action="key.create")) == 1
    store.dispose()


# -- audit -----------------------------------------------------------------------------------


def only(records: list[AuditRecord]) -> AuditRecord:
    assert len(records) == 1, records
    return records[0]


def test_every_key_change_leaves_one_audit_row(store: Store) -> None:
    before = counts(store)
    store.create_key("assoc-ic", "association", ["ic"], sha("k"), "tc_k", actor="alice")
    created = only(store.audit_log(action="key.create"))
    assert (created.actor, created.role, created.target) == ("alice", None, "key assoc-ic")
    assert created.detail == {"role": "association", "fields": ["ic"]}
    assert created.at.tzinfo is not None

    store.revoke_key("assoc-ic", actor="bob")
    revoked = only(store.audit_log(action="key.revoke"))
    assert (revoked.actor, revoked.target) == ("bob", "key assoc-ic")
    assert revoked.detail["role"] == "association"
    assert revoked.id > created.id
    assert new_rows(store, before) == {"api_keys": 1, "audit_log": 2, "uploads": 0, "runs": 0}


def test_the_reference_catalog_load_is_audited(store: Store) -> None:
    catalog = only(store.audit_log(action="catalog"))
    assert catalog.actor == "system"
    assert catalog.target == f"upload #{store.uploads(kind='catalog')[0].id}"
    assert catalog.detail["kind"] == "catalog"
    assert catalog.detail["filename"] == "reference"


def test_uploads_are_audited_once_and_rejections_not_at_all(store: Store) -> None:
    stored = ingest_file(
        store, "enrollment", csv_bytes(ENROLLMENT), filename="e.csv", uploader="edu-office"
    )
    row = only(store.audit_log(action="upload"))
    assert row.actor == "edu-office"
    assert row.target == f"upload #{stored.upload.id}"
    assert row.detail == {"kind": "enrollment", "rows": 2, "filename": "e.csv", "replaced_rows": 0}

    before = counts(store)
    again = ingest_file(store, "enrollment", csv_bytes(ENROLLMENT.iloc[::-1]), uploader="other")
    assert not again.created
    with pytest.raises(UploadRejected):
        ingest_file(store, "enrollment", b"year,programme_code\n2020,x\n", uploader="other")
    assert new_rows(store, before) == dict.fromkeys(before, 0)

    correction = ENROLLMENT.iloc[:1].assign(enrolled=[125])
    second = ingest_file(store, "enrollment", csv_bytes(correction), uploader="edu-office")
    newest = store.audit_log(action="upload")[0]
    assert newest.target == f"upload #{second.upload.id}"
    assert newest.detail["replaced_rows"] == 1
    assert newest.detail["filename"] is None


def test_a_failing_upload_leaves_neither_the_upload_nor_its_audit_row(
    store: Store, default_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = validate(
        read_table(csv_bytes(ENROLLMENT), "e.csv"), "enrollment", ValidationContext(default_catalog)
    )
    broken = typed.copy()
    broken.loc[1, "programme_code"] = None  # refused by the database, after the upload row
    before = counts(store)
    with pytest.raises(sa.exc.IntegrityError):
        store.add_observations("enrollment", broken, uploader="x")
    assert new_rows(store, before) == dict.fromkeys(before, 0)

    # ...and the other way round: when the audit row fails, the upload goes with it.
    def audit_down(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(AccessStore, "audit", audit_down)
    with pytest.raises(RuntimeError, match="audit log unavailable"):
        store.add_observations("enrollment", typed, uploader="x")
    with pytest.raises(RuntimeError, match="audit log unavailable"):
        store.create_run(store.watermark(), {})
    assert new_rows(store, before) == dict.fromkeys(before, 0)


def test_runs_created_and_promoted_are_audited(store: Store) -> None:
    run = store.create_run(store.watermark(), {"horizon": 6}, requested_by="planner-1")
    created = only(store.audit_log(action="run.create"))
    assert (created.actor, created.target) == ("planner-1", f"run #{run.id}")
    assert created.detail == {"watermark": run.watermark}

    store.start_run(run.id)
    store.finish_run(run.id, {}, metrics={}, timings={})
    store.set_served(run.id, actor="admin-1")
    promoted = only(store.audit_log(action="run.promote"))
    assert (promoted.actor, promoted.target) == ("admin-1", f"run #{run.id}")

    default = store.create_run(store.watermark(), {})
    assert store.audit_log(action="run.create")[0].actor == "system"
    assert store.audit_log(limit=1)[0].target == f"run #{default.id}"


def test_refused_audit_rows_roll_back_runs_and_promotions(store: Store) -> None:
    before = counts(store)
    with pytest.raises(StoreError, match="actor must be non-empty"):
        store.create_run(store.watermark(), {}, requested_by="")
    assert new_rows(store, before) == dict.fromkeys(before, 0)

    run = store.create_run(store.watermark(), {})
    store.start_run(run.id)
    store.finish_run(run.id, {}, metrics={}, timings={})
    with pytest.raises(StoreError, match="actor must be non-empty"):
        store.set_served(run.id, actor="")
    assert store.served_run() is None
    assert store.audit_log(action="run.promote") == []


def test_audit_log_is_newest_first_and_filters_by_actor_and_action(store: Store) -> None:
    store.audit("alice", "upload.rejected", role=Role.ASSOCIATION, target="hiring.csv")
    store.audit("bob", "upload.rejected", role="admin", detail={"problems": 3})
    store.audit("alice", "run.create", target="run #1")
    log = store.audit_log()
    assert [(r.actor, r.action) for r in log[:3]] == [
        ("alice", "run.create"),
        ("bob", "upload.rejected"),
        ("alice", "upload.rejected"),
    ]
    assert [r.id for r in log] == sorted((r.id for r in log), reverse=True)
    assert log[1].role is Role.ADMIN
    assert log[1].detail == {"problems": 3}
    assert log[0].detail == {}
    assert log[0].role is None
    assert [r.action for r in store.audit_log(actor="alice")] == ["run.create", "upload.rejected"]
    assert [r.actor for r in store.audit_log(action="upload.rejected")] == ["bob", "alice"]
    assert store.audit_log(actor="alice", action="run.create") == [log[0]]
    assert store.audit_log(limit=2, offset=1) == log[1:3]
    assert store.audit_log(limit=0) == []
    with pytest.raises(StoreError, match="limit must be a whole number"):
        store.audit_log(limit=-1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"role": "guest"}, "unknown role 'guest'"),
        ({"detail": {"x": float("nan")}}, "only finite numbers"),
        ({"detail": ["not", "a", "mapping"]}, "audit detail must be a mapping"),
        ({"target": "t" * 201}, "target .* longer than 200"),
        ({"action": ""}, "action must be non-empty"),
    ],
)
def test_bad_audit_rows_are_refused(store: Store, arguments: dict[str, Any], message: str) -> None:
    before = counts(store)
    values: dict[str, Any] = {"actor": "alice", "action": "upload", **arguments}
    with pytest.raises(StoreError, match=message):
        store.audit(**values)
    assert new_rows(store, before) == dict.fromkeys(before, 0)


def test_audit_within_a_callers_transaction_rolls_back_with_it(store: Store) -> None:
    detail = {"rows": 3}
    before = counts(store)

    def write_then_fail() -> None:
        with store.engine.begin() as connection:
            store.audit("alice", "upload", detail=detail, connection=connection)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert new_rows(store, before) == dict.fromkeys(before, 0)
    with store.engine.begin() as connection:
        store.audit("alice", "upload", detail=detail, connection=connection)
    assert only(store.audit_log(actor="alice")).detail == {"rows": 3}
    assert detail == {"rows": 3}


# -- migration -------------------------------------------------------------------------------


def _migrate(store: Store, direction: str, revision: str) -> None:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("data.store").joinpath("migrations"))
    )
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def test_downgrade_to_0003_drops_the_access_tables_and_upgrade_restores_them(
    store: Store,
) -> None:
    planner(store)
    _migrate(store, "downgrade", "0003")
    with store.engine.connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
    assert not {"api_keys", "audit_log"} & tables
    assert {"runs", "run_artifacts", "uploads"} <= tables

    _migrate(store, "upgrade", "head")
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    assert store.keys() == []
    assert planner(store).active


# -- sessions --------------------------------------------------------------------------------


def test_a_session_lives_until_it_expires_is_ended_or_its_key_is_revoked(store: Store) -> None:
    key = planner(store)
    session = store.create_session(key.id, sha("session-1"), "csrf-1", ttl_seconds=3600)
    assert session.key == key
    assert session.csrf_token == "csrf-1"
    assert store.session_by_hash(sha("session-1")) == session
    assert store.session_by_hash(sha("session-2")) is None
    assert store.session_by_hash("not a hash") is None
    # expired: gone (and cleared when the next session starts)
    store.create_session(key.id, sha("old"), "csrf-old", ttl_seconds=-1)
    assert store.session_by_hash(sha("old")) is None
    store.create_session(key.id, sha("session-3"), "csrf-3", ttl_seconds=3600)
    with store.engine.connect() as connection:
        tokens = connection.execute(sa.select(sessions.c.token_hash)).scalars().all()
    assert sha("old") not in tokens
    # signing out ends one session; revoking the key ends all of them
    store.end_session(sha("session-1"))
    assert store.session_by_hash(sha("session-1")) is None
    assert store.session_by_hash(sha("session-3")) is not None
    store.revoke_key("planner-1", actor="root")
    assert store.session_by_hash(sha("session-3")) is None
