"""Durable storage for batches that cannot be delivered now, and their replay later.

One JSON file per batch in a per-user state directory (mode 0700), written atomically (temp
file, fsync, rename; mode 0600). A file records the bucket key and name and a fingerprint of
the access key — never the key itself — so a later Streamer with the same key replays it, and
``isstreamer spool`` can show or replay it. Several processes may share a spool: a file is
claimed by renaming it, which only one process can do.
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import os
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

log = logging.getLogger("isstreamer")

FORMAT_VERSION = 1
SUFFIX = ".json"
CLAIM_MARK = ".claimed-"
REFUSED_MARK = ".refused"  # in the name of a file the API refused for good: never auto-replayed
TMP_PREFIX = ".tmp-"
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_AGE = 30 * 24 * 3600.0
ENV_SPOOL_DIR = "ISS_SPOOL_DIR"

Event = Tuple[str, Any, float]
_sequence = itertools.count()
_instances = itertools.count()


def default_spool_dir() -> str:
    """The per-user state directory for this platform (or ``$ISS_SPOOL_DIR``)."""
    configured = os.environ.get(ENV_SPOOL_DIR)
    if configured:
        return os.path.expanduser(configured)
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(home, "Library", "Application Support")
    else:
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
    return os.path.join(base, "isstreamer", "spool")


def key_fingerprint(access_key: str) -> str:
    """A short, one-way name for an access key: enough to match files, useless to an attacker."""
    import hashlib  # off the import path: only needed once a Streamer goes online

    return hashlib.sha256(b"isstreamer-spool:" + access_key.encode("utf-8")).hexdigest()[:16]


class SpooledBatch:
    """One spool file's content, and where it lies while claimed."""

    __slots__ = ("name", "bucket_key", "bucket_name", "fingerprint", "events",
                 "first_failure", "attempts", "reason", "refused", "path")

    def __init__(
        self,
        name: str,
        bucket_key: str,
        bucket_name: str,
        fingerprint: str,
        events: List[Event],
        first_failure: float,
        attempts: int,
        reason: str,
        refused: Optional[str] = None,
    ) -> None:
        self.name = name
        self.bucket_key = bucket_key
        self.bucket_name = bucket_name
        self.fingerprint = fingerprint
        self.events = events
        self.first_failure = first_failure
        self.attempts = attempts
        self.reason = reason
        self.refused = refused  # set when the API refused it for good (e.g. bucket_removed)
        self.path = ""  # where it lies while claimed

    def to_json(self) -> Dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "bucket_key": self.bucket_key,
            "bucket_name": self.bucket_name,
            "key_fingerprint": self.fingerprint,
            "first_failure": self.first_failure,
            "attempts": self.attempts,
            "reason": self.reason,
            "refused": self.refused,
            "events": [{"key": k, "value": v, "epoch": e} for k, v, e in self.events],
        }

    @classmethod
    def from_json(cls, name: str, data: Dict[str, Any]) -> SpooledBatch:
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unknown spool format version {data.get('version')!r}")
        events = [(str(e["key"]), e["value"], float(e["epoch"])) for e in data["events"]]
        return cls(
            name=name,
            bucket_key=str(data["bucket_key"]),
            bucket_name=str(data.get("bucket_name", "")),
            fingerprint=str(data["key_fingerprint"]),
            events=events,
            first_failure=float(data.get("first_failure", 0.0)),
            attempts=int(data.get("attempts", 0)),
            reason=str(data.get("reason", "")),
            refused=data.get("refused"),
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class Spool:
    """The spool directory, seen by one access key (its fingerprint)."""

    def __init__(
        self,
        directory: str,
        fingerprint: str,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        self.directory = os.path.abspath(os.path.expanduser(directory))
        self.fingerprint = fingerprint
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._lock = threading.Lock()
        self._announced = False
        self._tag = ""
        self._tag_pid = -1
        self.evicted_events = 0  # events this process spooled and then lost to the bounds

    def reset_after_fork(self) -> None:
        """A forked child must not wait on a lock a parent thread held at the fork."""
        self._lock = threading.Lock()

    def _writer_tag(self) -> str:
        """"<pid>.<n>": which process and which Spool object wrote a file, so a Streamer can
        find (and count) its own files; renewed in a forked child."""
        pid = os.getpid()
        if self._tag_pid != pid:
            self._tag_pid = pid
            self._tag = f"{pid}.{next(_instances)}"
        return self._tag

    # -- writing ----------------------------------------------------------------------------
    def _ensure_dir(self) -> None:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        if not self._announced:
            self._announced = True
            try:
                os.chmod(self.directory, 0o700)
            except OSError:
                pass
            log.warning("isstreamer: saving undelivered events to the spool at %s", self.directory)

    def save(
        self,
        bucket_key: str,
        bucket_name: str,
        events: List[Event],
        reason: str,
        attempts: int = 1,
        first_failure: Optional[float] = None,
        refused: Optional[str] = None,
    ) -> SpooledBatch:
        """Write one batch durably; raise OSError if it could not be written."""
        name = (
            f"{time.time_ns():020d}-{self._writer_tag()}-{next(_sequence):06d}-{self.fingerprint}"
            + (REFUSED_MARK if refused else "")
            + SUFFIX
        )
        batch = SpooledBatch(
            name=name,
            bucket_key=bucket_key,
            bucket_name=bucket_name,
            fingerprint=self.fingerprint,
            events=list(events),
            first_failure=time.time() if first_failure is None else first_failure,
            attempts=attempts,
            reason=reason,
            refused=refused,
        )
        with self._lock:
            self._ensure_dir()
            self._write(name, batch)
        self.enforce_bounds()
        return batch

    def _write(self, name: str, batch: SpooledBatch) -> None:
        data = json.dumps(batch.to_json(), separators=(",", ":")).encode("ascii")
        tmp = os.path.join(self.directory, f"{TMP_PREFIX}{os.getpid()}-{next(_sequence)}-{name}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        os.replace(tmp, os.path.join(self.directory, name))
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        if os.name != "posix":
            return
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    # -- reading and replay ------------------------------------------------------------------
    def _names(self) -> List[str]:
        try:
            return sorted(os.listdir(self.directory))
        except OSError:  # missing or unusable: nothing to list (writes report the problem)
            return []

    def pending(
        self, any_key: bool = False, include_refused: bool = False, own_only: bool = False
    ) -> List[str]:
        """Unclaimed batch files, oldest first: this key's only unless ``any_key``, without
        those the API refused for good unless ``include_refused``, and with ``own_only`` just
        the ones this process wrote."""
        mine = f"-{self.fingerprint}"
        own = f"-{self._writer_tag()}-"
        names = []
        for name in self._names():
            if not name.endswith(SUFFIX) or name.startswith("."):
                continue
            if own_only and own not in name:
                continue
            stem = name[: -len(SUFFIX)]
            refused = stem.endswith(REFUSED_MARK)
            if refused:
                if not include_refused:
                    continue
                stem = stem[: -len(REFUSED_MARK)]
            if any_key or stem.endswith(mine):
                names.append(name)
        return names

    def read(self, name: str) -> SpooledBatch:
        path = os.path.join(self.directory, name)
        with open(path, encoding="ascii") as handle:
            batch = SpooledBatch.from_json(name, json.load(handle))
        batch.path = path
        return batch

    def claim(self, name: str) -> Optional[SpooledBatch]:
        """Take a file for replay; ``None`` if another process took it first (or it is bad)."""
        source = os.path.join(self.directory, name)
        claimed = f"{source}{CLAIM_MARK}{os.getpid()}"
        try:
            os.rename(source, claimed)
        except FileNotFoundError:
            return None
        try:
            with open(claimed, encoding="ascii") as handle:
                batch = SpooledBatch.from_json(name, json.load(handle))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            bad = source + ".corrupt"
            os.replace(claimed, bad)
            log.error(
                "isstreamer: spool file %s is unreadable (%s); moved it to %s", name, exc, bad
            )
            return None
        batch.path = claimed
        return batch

    def delete(self, batch: SpooledBatch) -> None:
        """Forget a batch after the API accepted it."""
        try:
            os.unlink(batch.path)
        except FileNotFoundError:
            pass

    def delete_unclaimed(self, batch: SpooledBatch) -> None:
        """Remove a file this process wrote, if nobody has claimed it for replay yet."""
        try:
            os.unlink(os.path.join(self.directory, batch.name))
        except FileNotFoundError:
            pass

    def release(self, batch: SpooledBatch, reason: str) -> None:
        """Put a claimed batch back (with what is left of it) for a later try."""
        batch.attempts += 1
        batch.reason = reason
        if batch.refused and not batch.name.endswith(REFUSED_MARK + SUFFIX):
            batch.name = batch.name[: -len(SUFFIX)] + REFUSED_MARK + SUFFIX
        with self._lock:
            self._write(batch.name, batch)
        try:
            os.unlink(batch.path)
        except FileNotFoundError:
            pass

    def recover_stale_claims(self) -> int:
        """Return files claimed by processes that died (kill -9) to the queue."""
        recovered = 0
        for name in self._names():
            if CLAIM_MARK not in name:
                continue
            original, _, pid_text = name.rpartition(CLAIM_MARK)
            try:
                pid = int(pid_text)
            except ValueError:
                continue
            if pid == os.getpid() or _pid_alive(pid):
                continue
            try:
                os.rename(
                    os.path.join(self.directory, name), os.path.join(self.directory, original)
                )
                recovered += 1
            except OSError:
                pass
        for name in self._names():  # temp files of writers that died mid-write
            if name.startswith(TMP_PREFIX):
                pid_text = name[len(TMP_PREFIX):].split("-", 1)[0]
                if pid_text.isdigit() and not _pid_alive(int(pid_text)):
                    try:
                        os.unlink(os.path.join(self.directory, name))
                    except OSError:
                        pass
        return recovered

    # -- bounds ------------------------------------------------------------------------------
    def usage(self) -> Tuple[int, int]:
        """(files, bytes) of batch files in the spool, every key and claim included."""
        files = size = 0
        for name in self._names():
            if name.startswith(".") or SUFFIX not in name or name.endswith(".corrupt"):
                continue
            try:
                size += os.path.getsize(os.path.join(self.directory, name))
                files += 1
            except FileNotFoundError:
                pass
        return files, size

    def enforce_bounds(self) -> int:
        """Delete the oldest unclaimed files past the size or age limit; warn with the amount."""
        now = time.time()
        entries = []
        total = 0
        for name in self._names():
            if name.startswith(".") or not name.endswith(SUFFIX):
                continue
            path = os.path.join(self.directory, name)
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                continue
            entries.append((name, path, stat.st_size, stat.st_mtime))
            total += stat.st_size
        evicted_files = evicted_events = freed = 0
        own = f"-{self._writer_tag()}-"
        for name, path, size, mtime in entries:  # oldest first: names start with the time
            too_old = now - mtime > self.max_age
            if total <= self.max_bytes and not too_old:
                continue
            try:
                count = len(self.read(name).events)
                os.unlink(path)
            except (OSError, ValueError, KeyError):
                continue
            total -= size
            freed += size
            evicted_files += 1
            evicted_events += count
            if own in name:
                self.evicted_events += count
        if evicted_files:
            log.warning(
                "isstreamer: the spool at %s is over its limits (%.1f MB, %.1f days); deleted "
                "the %d oldest batches (%d events, %.2f MB). Raise spool_max_bytes / "
                "spool_max_age to keep more.",
                self.directory, self.max_bytes / 1e6, self.max_age / 86400,
                evicted_files, evicted_events, freed / 1e6,
            )
        return evicted_events


def spool_error_message(exc: OSError, directory: str) -> str:
    reason = errno.errorcode.get(exc.errno or 0, "") if exc.errno else ""
    return f"cannot write to the spool at {directory} ({reason or type(exc).__name__}: {exc})"
