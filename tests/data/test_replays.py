"""Kept balance replays on SQLite and PostgreSQL: exact bytes back under their key, damaged
rows reported missing, replacement, pruning to the most recently used."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from data.store import Store, StoredReplay, StoreError
from data.store.replays import KEPT_REPLAYS
from data.store.tables import balance_replays


def a_replay(name: str, content: bytes = b"\x00replayed balance\xff") -> StoredReplay:
    return StoredReplay(
        key=hashlib.sha256(name.encode()).hexdigest(),
        cut=2021,
        demand_model="direct",
        code_version="talentcast 0.1.0 (0123456789abcdef)",
        data_fingerprint=hashlib.sha256(b"data").hexdigest(),
        content=content,
        seconds=12.5,
        created_at=datetime(2026, 12, 7, 3, 0, tzinfo=UTC),
    )


def test_a_kept_replay_comes_back_exactly_under_its_key_only(store: Store) -> None:
    kept = a_replay("a")
    assert store.kept_replay(kept.key) is None
    store.keep_replay(kept)
    assert store.kept_replay(kept.key) == kept
    assert store.kept_replay(a_replay("b").key) is None
    assert store.count_kept_replays() == 1


def test_keeping_a_key_again_replaces_its_row(store: Store) -> None:
    store.keep_replay(a_replay("a", b"first"))
    store.keep_replay(a_replay("a", b"second"))
    found = store.kept_replay(a_replay("a").key)
    assert found is not None
    assert found.content == b"second"
    assert store.count_kept_replays() == 1


def test_a_row_that_no_longer_matches_its_checksum_is_missing_not_an_error(
    store: Store,
) -> None:
    kept = a_replay("a")
    store.keep_replay(kept)
    with store.engine.begin() as connection:
        connection.execute(balance_replays.update().values(content=b"bit rot"))
    assert store.kept_replay(kept.key) is None
    store.keep_replay(kept)  # the next replay replaces it
    assert store.kept_replay(kept.key) == kept


def test_only_the_most_recently_used_replays_are_kept(store: Store) -> None:
    replays = [a_replay(str(i)) for i in range(KEPT_REPLAYS + 3)]
    store.keep_replay(replays[0])
    for replay in replays[1:]:
        store.kept_replay(replays[0].key)  # used by every retrain
        store.keep_replay(replay)
    assert store.count_kept_replays() == KEPT_REPLAYS
    assert store.kept_replay(replays[0].key) is not None
    assert store.kept_replay(replays[1].key) is None, "the least recently used is dropped"
    assert store.kept_replay(replays[-1].key) is not None


@pytest.mark.parametrize("key", ["", "abc", "G" * 64, "A" * 64, 7])
def test_a_key_that_is_not_a_sha256_is_refused(store: Store, key: object) -> None:
    with pytest.raises(StoreError, match="64 lower-case hex digits"):
        store.kept_replay(key)  # type: ignore[arg-type]


def test_a_replay_without_content_is_refused_and_nothing_is_written(store: Store) -> None:
    with pytest.raises(StoreError, match="no content"):
        store.keep_replay(a_replay("a", b""))
    with store.engine.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(balance_replays)).scalar()
            == 0
        )


def test_a_store_whose_replays_cannot_be_read_or_kept_reports_them_missing(store: Store) -> None:
    """A cache that fails costs the next retrain a replay, never the run."""
    with store.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE balance_replays"))
    kept = a_replay("a")
    store.keep_replay(kept)
    assert store.kept_replay(kept.key) is None
