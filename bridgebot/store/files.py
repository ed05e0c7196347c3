"""The files of posts, stored once by content beside the database (``files/`` next to it).

A file is kept under its SHA-256 (``files/ab/abcdef…``): the same photo sent twice, or
relayed from one chat into three, is one file on disk. It is written to a temporary name
first, its image metadata removed (:mod:`bridgebot.media`), hashed, then renamed into
place, so a file under its hash is always complete and clean. ``bridgebot backup`` copies
the whole folder (``store/backup.py``); a file no post refers to any more (``/forgetme``,
retention) is deleted by :meth:`FileStore.discard`. What a crash leaves in ``tmp/`` (a file
caught between its arrival and its rename into place: perhaps a photo whose metadata was
not removed yet) is deleted once nothing has changed in it for ``LEFTOVER_AGE``
(:meth:`FileStore.sweep_leftovers`, on start and hourly: core/housekeeping.py), as is a
platform download a crash cut short in the system's temporary folder.

The folder is the ``files_dir`` setting (default: beside the SQLite file; ``data/files``
with PostgreSQL). Several workers on one PostgreSQL, and ``bridgebot serve``, must all see
the same folder: a photo one worker received may be delivered by another. A stored file
that is not there when it is to be sent is not an error for the stream: the copy carries
the line naming the file (as for a file too large to cross), and a warning tells the
operator, once per file, that this process does not see the folder the others write to.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import re
import shutil
import stat
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from bridgebot.core.models import ATTACHMENT_KINDS, Attachment
from bridgebot.media import DOWNLOAD_PREFIX, strip_metadata
from bridgebot.store.backup import files_dir
from bridgebot.store.sql import Db

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20
# How many missing files a process remembers having warned about (one line per file).
_WARNED_KEPT = 1000
# What is in tmp/ and unchanged this long is a crash's leftover: every write there (a file
# moved in, its metadata removed, a copy, a restore's extraction) changes what it writes
# every few seconds at most and ends in a rename out of tmp/, so an hour leaves a wide
# margin, also against the clocks of workers sharing the folder over a network mount.
LEFTOVER_AGE = timedelta(hours=1)
# How long one sweep of tmp/ may take (a hung network mount) before housekeeping goes on.
SWEEP_SECONDS = 60.0

T = TypeVar("T")


class FilesUnusable(RuntimeError):
    """The files folder cannot be written (permissions, a read-only mount, a file in its
    place): one line for the operator, never a traceback, as a bad setting."""

    def __init__(self, folder: Path, reason: str) -> None:
        super().__init__(
            f"bad setting files_dir: the folder {folder} for posts' files cannot be written "
            f"({reason}); make it writable by this user or set files_dir (BRIDGEBOT_FILES_DIR) "
            "to another folder")
        self.folder = folder
        self.reason = reason


def check_writable(folder: Path) -> None:
    """Make the files folder if needed and prove it writable (a file written and removed
    in its ``tmp/``, where :meth:`FileStore.put` writes), or raise :class:`FilesUnusable`."""
    probe = folder / "tmp" / f".probe-{uuid.uuid4().hex}"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise FilesUnusable(folder, err.strerror or type(err).__name__) from None


def check_unchanged(folder: Path) -> bool:
    """:func:`check_writable` for an operator's look before starting (``check-config``),
    leaving the disk as it was; whether the folder exists already, or raise
    :class:`FilesUnusable`.

    An existing folder is proved writable as the running bot's check proves it (a file
    written and removed, in its ``tmp/`` when there is one, else in the folder itself: no
    ``tmp/`` is made). A missing one is not made: the nearest folder above it that exists
    must let this user make folders in it (``bridgebot run`` makes it at start)."""
    if folder.is_dir():
        where = folder / "tmp" if (folder / "tmp").is_dir() else folder
        probe = where / f".probe-{uuid.uuid4().hex}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            raise FilesUnusable(folder, err.strerror or type(err).__name__) from None
        return True
    if folder.exists() or folder.is_symlink():
        raise FilesUnusable(folder, "something that is not a folder is in its place")
    above = folder.parent
    while not above.exists() and not above.is_symlink() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise FilesUnusable(folder, f"{above} is not a folder, so it cannot be made")
    if not os.access(above, os.W_OK | os.X_OK):
        raise FilesUnusable(folder, f"it does not exist and this user may not make it in {above}")
    return False


async def look_unchanged(folder: Path, timeout: float) -> bool:
    """:func:`check_unchanged`, waited for ``timeout`` at most: on a hung network mount
    even a ``stat`` of the folder never returns, and an operator's look must end with a
    line, not hang. In a daemon thread of its own that is abandoned when it hangs (as
    :meth:`FileStore.probe`: a thread of the default executor would be joined at exit).
    Raises :class:`FilesUnusable` for no answer too (its reason: "it did not answer within
    N s")."""
    look = in_daemon_thread(functools.partial(check_unchanged, folder), "bridgebot-files-look")
    try:
        return await within(look, timeout)
    except TimeoutError:
        raise FilesUnusable(folder, f"it did not answer within {timeout:g} s") from None


def _digest(path: Path) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


class FileStore:
    """Content-addressed files in the data directory; implements ``core.ports.FilePort``."""

    def __init__(self, db: Db, root: Path | None = None) -> None:
        self.db = db
        if root is None:
            path = Path(str(getattr(db, "path", ":memory:")))
            if str(path) == ":memory:":
                # A database in memory keeps its files in a temporary folder that goes with
                # this store (when it is collected, or at exit at the latest), as it goes.
                root = Path(tempfile.mkdtemp(prefix="bridgebot-files-"))
                weakref.finalize(self, shutil.rmtree, root, ignore_errors=True)
            else:
                root = files_dir(path)
        self.root = root
        self._warned: set[str] = set()
        self._probe: asyncio.Future[None] | None = None
        self._sweep: asyncio.Future[int] | None = None
        self.clock: Callable[[], float] = time.time  # what leftovers' ages are taken from

    def check(self) -> None:
        """:func:`check_writable` on this store's folder."""
        check_writable(self.root)

    async def probe(self, timeout: float) -> FilesUnusable | None:
        """Why a post's file cannot be stored now (:meth:`check`'s refusal, or no answer
        within ``timeout``), or None. One probe at a time, in a daemon thread: on a hung
        network mount a probe never returns, and each ask starting its own would use up the
        threads every file write needs (nor may a hung probe keep the process from exiting,
        as a thread of the default executor would: it is joined at exit)."""
        if self._probe is None or self._probe.done():
            self._probe = in_daemon_thread(self.check, "bridgebot-files-probe")
        try:
            await within(self._probe, timeout)
        except TimeoutError:
            return FilesUnusable(self.root, f"it did not answer within {timeout:g} s")
        except FilesUnusable as err:
            return err
        return None

    async def problem(self, timeout: float) -> str | None:
        """:meth:`probe` as a line for /healthz, or None."""
        err = await self.probe(timeout)
        if err is None:
            return None
        if err.reason.startswith("it did not answer"):
            return f"the folder {err.folder} did not answer within {timeout:g} s"
        return f"the folder {err.folder} cannot be written ({err.reason})"

    async def sweep_leftovers(self, older_than: timedelta = LEFTOVER_AGE,
                              timeout: float = SWEEP_SECONDS) -> int:
        """Delete what a crash left in ``tmp/`` (:func:`sweep_leftovers`) and of downloads
        (:func:`sweep_downloads`); how many entries.

        In a daemon thread, one sweep at a time, waited for ``timeout`` at most (a hung
        network mount: :meth:`probe`); a sweep still hanging from before is not repeated."""
        if self._sweep is None or self._sweep.done():
            age, now = older_than.total_seconds(), self.clock()
            self._sweep = in_daemon_thread(
                lambda: sweep_leftovers(self.root, age, now) + sweep_downloads(age, now),
                "bridgebot-files-sweep")
        return await within(self._sweep, timeout)

    def _where(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def path(self, attachment: Attachment) -> Path | None:
        """The stored file, or None when it was never stored or is gone; never a path outside
        the store (the name on disk is the hash, checked to be one)."""
        if not _SHA256.fullmatch(attachment.sha256):
            return None
        where = self._where(attachment.sha256)
        if where.is_file():
            return where
        self._missing(attachment.sha256)
        return None

    def _missing(self, sha256: str) -> None:
        """One warning per file a post refers to but this folder lacks (no name: a file's
        name may be personal; its hash prefix finds it)."""
        if sha256 in self._warned:
            return
        if len(self._warned) >= _WARNED_KEPT:
            self._warned.clear()
        self._warned.add(sha256)
        log.warning("stored file %s… is not in the files folder %s (a chat gets a line naming "
                    "it instead, the archive no file); every worker and `bridgebot serve` must "
                    "share this folder (files_dir; README \"PostgreSQL\")", sha256[:12], self.root)

    def path_of(self, sha256: str) -> Path | None:
        return self.path(Attachment("", "", 0, sha256))

    async def put(self, source: bytes | Path, name: str, mime_type: str, kind: str) -> Attachment:
        """Store one file (bytes, or a file the caller hands over: it is moved, not copied).

        A folder that cannot be written now (a network mount gone, a full or read-only
        disk) loses the file but not the post: the record comes back unstored (name, type,
        size), so the post is accepted and its copies carry the line naming the file, as
        for a file too large to fetch; a warning says why, and ``/healthz`` answers 503."""
        kind = kind if kind in ATTACHMENT_KINDS else "document"
        mime_type = mime_type or "application/octet-stream"
        sent_size = _size_of(source)  # before the file is moved in (a local temporary file)
        try:
            sha256, size = await self._store(source, mime_type)
        except OSError as err:
            log.warning("a post's %s file could not be stored in the files folder %s (%s); it "
                        "crosses as a line naming it", mime_type, self.root,
                        err.strerror or type(err).__name__)
            return Attachment(name=clean_name(name), mime_type=mime_type,
                              size=sent_size, sha256="", kind=kind)
        return Attachment(name=clean_name(name), mime_type=mime_type, size=size, sha256=sha256,
                          kind=kind)

    async def _store(self, source: bytes | Path, mime_type: str) -> tuple[str, int]:
        """Write, clean, hash and rename one file into place; its SHA-256 and size."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / uuid.uuid4().hex
        try:
            if isinstance(source, Path):
                await asyncio.to_thread(_move, source, tmp)
            else:
                await asyncio.to_thread(tmp.write_bytes, source)
            await asyncio.to_thread(strip_metadata, tmp, mime_type)
            sha256, size = await asyncio.to_thread(_digest, tmp)
            final = self._where(sha256)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        return sha256, size

    async def named(self) -> set[str]:
        """The sha256 of every stored file a post names (what a restore of files may bring
        back: one erased since the backup is named by none)."""
        return {str(row[0]) for row in await self.db.fetch(
            "SELECT DISTINCT sha256 FROM attachments WHERE sha256 IS NOT NULL", ())}

    async def discard(self, sha256s: Iterable[str]) -> int:
        """Delete the stored files among ``sha256s`` that no post refers to any more."""
        removed = 0
        for sha256 in set(sha256s):
            if not _SHA256.fullmatch(sha256):
                continue
            rows = await self.db.fetch(
                "SELECT 1 FROM attachments WHERE sha256 = ? LIMIT 1", (sha256,))
            if list(rows):
                continue
            with contextlib.suppress(FileNotFoundError):
                self._where(sha256).unlink()
                removed += 1
        return removed


def sweep_leftovers(folder: Path, older_than: float, now: float) -> int:
    """Delete each entry of ``folder``'s ``tmp/`` in which nothing changed for ``older_than``
    seconds before ``now``; return how many went.

    Changed means written or renamed (the later of its mtime and ctime: a file moved in
    keeps the mtime it had, its ctime is the move), for a folder anything inside it (a
    restore's extraction). Workers sharing the folder may all sweep it: an entry another
    removed first, or its writer renamed into place meanwhile, is simply gone."""
    try:
        entries = list(os.scandir(folder / "tmp"))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    removed = failed = 0
    for entry in entries:
        path = Path(entry.path)
        try:
            if _last_change(path) > now - older_than:
                continue
            if entry.is_dir(follow_symlinks=False):
                _remove_tree(path)
            else:
                path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        except OSError:
            failed += 1
    if failed:
        log.warning("%d leftovers in %s could not be deleted (permissions?)", failed,
                    folder / "tmp")
    return removed


def sweep_downloads(older_than: float, now: float) -> int:
    """Delete this user's downloads in the system's temporary folder (named with
    :data:`~bridgebot.media.DOWNLOAD_PREFIX`) unchanged for ``older_than`` seconds before
    ``now``: a download is written there in chunks, so only a crash leaves one that old.
    Another user's (another bridgebot on the host) are theirs to sweep."""
    removed = 0
    try:
        entries = [e for e in os.scandir(tempfile.gettempdir())
                   if e.name.startswith(DOWNLOAD_PREFIX)]
    except OSError:
        return 0
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
            if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid()
                    or max(info.st_mtime, info.st_ctime) > now - older_than):
                continue
            os.unlink(entry.path)
            removed += 1
        except FileNotFoundError:
            continue
        except OSError as err:
            log.warning("a leftover download in %s could not be deleted (%s)",
                        tempfile.gettempdir(), err.strerror or type(err).__name__)
    return removed


def _last_change(path: Path) -> float:
    """When ``path`` (and, for a folder, anything in it) was last written or renamed."""
    info = path.lstat()
    last = max(info.st_mtime, info.st_ctime)
    if stat.S_ISDIR(info.st_mode):
        for top, folders, files in os.walk(path):
            for name in (*folders, *files):
                with contextlib.suppress(FileNotFoundError):
                    inner = os.lstat(os.path.join(top, name))
                    last = max(last, inner.st_mtime, inner.st_ctime)
    return last


def _remove_tree(path: Path) -> None:
    """``path`` and everything in it, deepest first; what is already gone (another worker's
    sweep got there first) is no error, anything else is."""
    for top, folders, files in os.walk(path, topdown=False):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(top, name))
        for name in folders:
            inner = os.path.join(top, name)
            with contextlib.suppress(FileNotFoundError):
                if os.path.islink(inner):  # listed among folders, never followed
                    os.unlink(inner)
                else:
                    os.rmdir(inner)
    path.rmdir()


async def within(work: asyncio.Future[T], timeout: float) -> T:
    """``work``'s outcome, or TimeoutError after ``timeout``; ``work`` goes on either way
    (a probe or sweep hanging on the folder is not asked twice).

    Not ``wait_for(shield(work))``: on Python 3.11 a cancellation that comes as ``work``
    finishes is swallowed there (it returns the result), and the housekeeping loop that
    was being stopped went on to sleep for an hour, so shutdown hung (seen in CI)."""
    done, _ = await asyncio.wait([work], timeout=timeout)
    if not done:
        raise TimeoutError
    return work.result()


def in_daemon_thread(work: Callable[[], T], name: str) -> asyncio.Future[T]:
    """``work()`` in a daemon thread of its own; its outcome as a future of this loop."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not done.done():
            outcome()

    def run() -> None:
        try:
            result = work()
        except BaseException as err:  # handed to the awaiting side, whatever it is
            outcome = functools.partial(done.set_exception, err)
        else:
            outcome = functools.partial(done.set_result, result)
        with contextlib.suppress(RuntimeError):  # the loop closed while the work hung
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=run, name=name, daemon=True).start()
    return done


def _size_of(source: bytes | Path) -> int:
    if isinstance(source, bytes):
        return len(source)
    try:
        return source.stat().st_size
    except OSError:
        return 0


def _move(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)
    except OSError:  # another file system: copy, then remove the original
        import shutil

        shutil.copyfile(source, target)
        source.unlink()


def clean_name(name: str) -> str:
    """A file name as sent, without folders or control characters (it is shown and used
    as a download name, never as a path on disk)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:200] or "file"
