"""SQLite storage for the local receiver.

Why SQLite: data must survive restarts, the standard library has it, and WAL mode lets the page
read while a batch is written (and lets ``isstreamer delete-bucket`` work beside a running
server). Every request is one transaction, so a rejected or interrupted request stores nothing.

Buckets are unique per (access key, bucket key), as on the real service. The access key itself is
never stored: only a SHA-256 fingerprint (to tell accounts apart) and its last 4 characters (to
show the user which key it was).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import queue
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from .._logging import mask_secret

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS buckets (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    key_hint TEXT NOT NULL,
    bucket_key TEXT NOT NULL,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    removed REAL,
    UNIQUE (account, bucket_key)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    bucket_id INTEGER NOT NULL REFERENCES buckets (id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    num REAL,
    epoch REAL NOT NULL,
    received REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_stream ON events (bucket_id, key, epoch);
"""

# Chart points kept per stream on the page: enough for a readable line, cheap to render.
CHART_POINTS = 240


def account_of(access_key: str) -> str:
    """A stable, non-reversible name for an access key."""
    return hashlib.sha256(access_key.encode("utf-8")).hexdigest()[:16]


def key_hint(access_key: str) -> str:
    """What the page shows of an access key: its last 4 characters, like the client's logs."""
    return mask_secret(access_key)


def numeric(value: Any) -> Optional[float]:
    """The number a chart would plot for a value, or None (booleans plot as 0/1)."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class NewEvent:
    """One validated event, ready to store."""

    key: str
    value: Any
    epoch: float


@dataclass(frozen=True)
class BucketRow:
    id: int
    bucket_key: str
    name: str
    key_hint: str
    created: float
    removed: Optional[float]
    events: int
    last_update: Optional[float]

    def to_json(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "bucketKey": self.bucket_key,
            "bucketName": self.name,
            "accessKey": self.key_hint,
            "created": self.created,
            "removed": self.removed,
            "events": self.events,
            "lastUpdate": self.last_update,
        }


@dataclass(frozen=True)
class StreamRow:
    key: str
    count: int
    latest: Any
    last_update: float
    points: Tuple[Tuple[float, float], ...]  # (epoch, number), oldest first; empty if not numeric
    kind: str  # "number", "boolean" or "text"
    recent: Tuple[Any, ...] = ()  # text streams: the latest few values, newest first

    def to_json(self) -> Dict[str, Any]:
        return {
            "key": self.key,
            "count": self.count,
            "latest": self.latest,
            "lastUpdate": self.last_update,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class EventRow:
    id: int
    bucket_id: int
    key: str
    value: Any
    epoch: float
    received: float

    def to_json(self) -> Dict[str, Any]:
        return {"key": self.key, "value": self.value, "epoch": self.epoch}


class BucketRemoved(Exception):
    """The bucket key belongs to a deleted bucket and can never be used again."""


class Store:
    """Buckets and events in one SQLite file; safe to share between request threads."""

    def __init__(self, path: str) -> None:
        self.path = path
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        self._write_lock = threading.Lock()
        self._writer = self._connect()
        with self._write_lock, self._writer:
            self._writer.executescript(_SCHEMA)
            self._writer.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', ?)",
                (str(SCHEMA_VERSION),),
            )
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._all: List[sqlite3.Connection] = [self._writer]
        self._all_lock = threading.Lock()
        # Notified after every committed change, so waiters need no polling.
        self.changed = threading.Condition()
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False,
                               isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = self._connect()
            with self._all_lock:
                self._all.append(conn)
        try:
            yield conn
        finally:
            self._readers.put(conn)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction on the writer; commits, or rolls back on any error."""
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        with self.changed:
            self.changed.notify_all()

    def close(self) -> None:
        with self._all_lock:
            if self._closed:
                return
            self._closed = True
            for conn in self._all:
                conn.close()

    # -- writes ------------------------------------------------------------------------------
    @staticmethod
    def _find(conn: sqlite3.Connection, account: str, bucket_key: str) -> Optional[Tuple[int, Any]]:
        row = conn.execute(
            "SELECT id, removed FROM buckets WHERE account = ? AND bucket_key = ?",
            (account, bucket_key),
        ).fetchone()
        return (int(row[0]), row[1]) if row else None

    def create_bucket(self, access_key: str, bucket_key: str, name: str) -> bool:
        """Create a bucket; False if it already existed (the first name stays)."""
        account = account_of(access_key)
        with self._transaction() as conn:
            found = self._find(conn, account, bucket_key)
            if found is not None:
                if found[1] is not None:
                    raise BucketRemoved(bucket_key)
                return False
            conn.execute(
                "INSERT INTO buckets (account, key_hint, bucket_key, name, created)"
                " VALUES (?, ?, ?, ?, ?)",
                (account, key_hint(access_key), bucket_key, name, time.time()),
            )
            return True

    def add_events(self, access_key: str, bucket_key: str, events: Sequence[NewEvent]) -> int:
        """Store a whole batch or nothing; a bucket not yet created is created (named by key)."""
        account = account_of(access_key)
        now = time.time()
        rows = []
        for event in events:
            rows.append((event.key, json.dumps(event.value, ensure_ascii=False),
                         numeric(event.value), event.epoch, now))
        with self._transaction() as conn:
            found = self._find(conn, account, bucket_key)
            if found is None:
                cursor = conn.execute(
                    "INSERT INTO buckets (account, key_hint, bucket_key, name, created)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (account, key_hint(access_key), bucket_key, bucket_key, now),
                )
                bucket_id = int(cursor.lastrowid or 0)
            elif found[1] is not None:
                raise BucketRemoved(bucket_key)
            else:
                bucket_id = found[0]
            conn.executemany(
                "INSERT INTO events (bucket_id, key, value, num, epoch, received)"
                f" VALUES ({bucket_id}, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def delete_bucket(self, bucket_id: int) -> bool:
        """Delete a bucket's events and keep a tombstone so its key answers BUCKET_REMOVED."""
        with self._transaction() as conn:
            row = conn.execute("SELECT removed FROM buckets WHERE id = ?", (bucket_id,)).fetchone()
            if row is None or row[0] is not None:
                return False
            conn.execute("DELETE FROM events WHERE bucket_id = ?", (bucket_id,))
            conn.execute("UPDATE buckets SET removed = ? WHERE id = ?", (time.time(), bucket_id))
            return True

    def bucket_ids_for_key(self, bucket_key: str, access_key: Optional[str] = None) -> List[int]:
        """Ids of live buckets with this key (every account's, unless an access key is given)."""
        sql = "SELECT id FROM buckets WHERE bucket_key = ? AND removed IS NULL"
        args: List[Any] = [bucket_key]
        if access_key is not None:
            sql += " AND account = ?"
            args.append(account_of(access_key))
        with self._reader() as conn:
            return [int(r[0]) for r in conn.execute(sql + " ORDER BY id", args)]

    # -- reads -------------------------------------------------------------------------------
    def version(self) -> str:
        """Changes whenever anything the page shows changes (cheap enough to poll)."""
        with self._reader() as conn:
            row = conn.execute(
                "SELECT (SELECT COALESCE(MAX(id), 0) FROM events),"
                " (SELECT COUNT(*) FROM events),"
                " (SELECT COALESCE(MAX(id), 0) FROM buckets),"
                " (SELECT COUNT(*) FROM buckets WHERE removed IS NOT NULL)"
            ).fetchone()
        return "-".join(str(x) for x in row)

    def buckets(self, *, include_removed: bool = True,
                bucket_key: Optional[str] = None) -> List[BucketRow]:
        """Buckets, most recently updated first."""
        sql = (
            "SELECT b.id, b.bucket_key, b.name, b.key_hint, b.created, b.removed,"
            " COUNT(e.id), MAX(e.received)"
            " FROM buckets b LEFT JOIN events e ON e.bucket_id = b.id"
        )
        where: List[str] = []
        args: List[Any] = []
        if not include_removed:
            where.append("b.removed IS NULL")
        if bucket_key is not None:
            where.append("b.bucket_key = ?")
            args.append(bucket_key)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " GROUP BY b.id ORDER BY COALESCE(MAX(e.received), b.created) DESC, b.id DESC"
        with self._reader() as conn:
            return [BucketRow(*row) for row in conn.execute(sql, args)]

    def bucket(self, bucket_id: int) -> Optional[BucketRow]:
        with self._reader() as conn:
            row = conn.execute(
                "SELECT b.id, b.bucket_key, b.name, b.key_hint, b.created, b.removed,"
                " COUNT(e.id), MAX(e.received)"
                " FROM buckets b LEFT JOIN events e ON e.bucket_id = b.id WHERE b.id = ?"
                " GROUP BY b.id",
                (bucket_id,),
            ).fetchone()
        return BucketRow(*row) if row else None

    def streams(self, bucket_id: int, *, chart_points: int = CHART_POINTS,
                recent_text: int = 4) -> List[StreamRow]:
        """Per-stream summary: count, latest value (by timestamp), and recent points to chart."""
        out: List[StreamRow] = []
        with self._reader() as conn:
            groups = conn.execute(
                "SELECT key, COUNT(*), MAX(epoch), COUNT(num),"
                " SUM(CASE WHEN value IN ('true', 'false') THEN 1 ELSE 0 END)"
                " FROM events WHERE bucket_id = ? GROUP BY key ORDER BY key",
                (bucket_id,),
            ).fetchall()
            for key, count, last, numeric_count, boolean_count in groups:
                latest_raw = conn.execute(
                    "SELECT value FROM events WHERE bucket_id = ? AND key = ?"
                    " ORDER BY epoch DESC, id DESC LIMIT 1",
                    (bucket_id, key),
                ).fetchone()[0]
                latest = json.loads(latest_raw)
                points: Tuple[Tuple[float, float], ...] = ()
                if boolean_count == count:
                    kind = "boolean"
                elif numeric_count == count:
                    kind = "number"
                else:
                    kind = "text"
                if kind != "text" and chart_points > 0:
                    recent = conn.execute(
                        "SELECT epoch, num FROM events WHERE bucket_id = ? AND key = ?"
                        " ORDER BY epoch DESC, id DESC LIMIT ?",
                        (bucket_id, key, chart_points),
                    ).fetchall()
                    points = tuple((float(e), float(n)) for e, n in reversed(recent))
                recent_values: Tuple[Any, ...] = ()
                if kind == "text" and recent_text > 0:
                    recent_values = tuple(json.loads(v) for (v,) in conn.execute(
                        "SELECT value FROM events WHERE bucket_id = ? AND key = ?"
                        " ORDER BY epoch DESC, id DESC LIMIT ?",
                        (bucket_id, key, recent_text),
                    ))
                out.append(StreamRow(key, int(count), latest, float(last), points, kind,
                                     recent_values))
        return out

    def events(
        self,
        bucket_id: Optional[int] = None,
        *,
        keys: Sequence[str] = (),
        since: Optional[float] = None,
        until: Optional[float] = None,
        limit: Optional[int] = None,
        newest_first: bool = False,
    ) -> List[EventRow]:
        """Events in timestamp order (arrival order among equal timestamps)."""
        sql = "SELECT id, bucket_id, key, value, epoch, received FROM events"
        where: List[str] = []
        args: List[Any] = []
        if bucket_id is not None:
            where.append("bucket_id = ?")
            args.append(bucket_id)
        if keys:
            where.append("key IN (%s)" % ",".join("?" * len(keys)))
            args.extend(keys)
        if since is not None:
            where.append("epoch >= ?")
            args.append(since)
        if until is not None:
            where.append("epoch <= ?")
            args.append(until)
        if where:
            sql += " WHERE " + " AND ".join(where)
        direction = "DESC" if newest_first else "ASC"
        sql += f" ORDER BY epoch {direction}, id {direction}"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._reader() as conn:
            return [
                EventRow(int(i), int(b), k, json.loads(v), float(e), float(r))
                for i, b, k, v, e, r in conn.execute(sql, args)
            ]

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        """Block until ``predicate()`` is true after a commit, or the timeout passes."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
        return True
