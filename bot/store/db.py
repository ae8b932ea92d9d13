"""The SQLite database: one aiosqlite connection, WAL, migrations and transactions."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import aiosqlite

from bot.private_files import create_private, private_dir
from bot.store import crypto, memo

log = logging.getLogger(__name__)


# The first line of a migration that must run with foreign key enforcement off.
FOREIGN_KEYS_OFF = "-- foreign_keys: off"


class StoreError(Exception):
    """The database file cannot be opened or migrated (a clear message for the operator)."""


def migrations() -> list[tuple[int, str]]:
    """Numbered SQL files shipped in bot/store/migrations, in order."""
    found: list[tuple[int, str]] = []
    for entry in resources.files("bot.store").joinpath("migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _ in found]
    # Numbers are handed out to features ahead of time, so a gap may stay open for a while;
    # two files with one number would be applied in an arbitrary order.
    if len(set(numbers)) != len(numbers) or (numbers and numbers[0] != 1):
        raise RuntimeError(f"migrations must be numbered from 1 without repeats, found {numbers}")
    return found


def latest_migration() -> int:
    """The schema version a fully migrated database records."""
    found = migrations()
    return found[-1][0] if found else 0


class Store:
    """Owns the connection; every write goes through transaction()."""

    def __init__(self, conn: aiosqlite.Connection, path: Path,
                 keys: crypto.Keyring | None = None) -> None:
        """Wrap an open connection (use Store.open)."""
        self.conn = conn
        self.path = path
        self.keys = keys or crypto.memory_keyring()
        crypto.attach(conn, self.keys)
        self._lock = asyncio.Lock()
        self._scrub = False
        self._reader: aiosqlite.Connection | None = None

    @classmethod
    async def open(cls, path: Path | str, master_key: str | None = None,
                   key_store: Path | None = None) -> Store:
        """Open (creating if needed) and migrate the database, with its key store (default
        beside it, under TILLIDSBOT_MASTER_KEY or the generated key file)."""
        db_path = Path(path)
        if str(db_path) != ":memory:":
            await asyncio.to_thread(_prepare_path, db_path)
        try:
            conn = await aiosqlite.connect(str(db_path), isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database {db_path}: {exc}") from exc
        conn.row_factory = aiosqlite.Row
        store = cls(conn, db_path)
        try:
            await conn.execute("PRAGMA busy_timeout=5000")
            await _enable_wal(conn)
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await store.migrate()
            await store._open_keys(master_key, key_store)
        except BaseException as exc:
            await conn.close()  # an open connection's thread would keep the process alive
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(f"cannot open the database {db_path}: {exc}") from exc
            raise
        return store

    async def migrate(self) -> int:
        """Apply migrations newer than PRAGMA user_version; return the version reached."""
        current = await self._user_version()
        for number, sql in migrations():
            if number <= current:
                continue
            # A migration that rebuilds a table others reference says so on its first line:
            # dropping the old table with foreign keys on would cascade into its children.
            # The pragma is a no-op inside a transaction, so it is switched around it.
            keys_off = sql.startswith(FOREIGN_KEYS_OFF)
            if keys_off:
                await self.conn.execute("PRAGMA foreign_keys=OFF")
            try:
                current = await self._apply(number, sql, keys_off)
            finally:
                if keys_off:
                    await self.conn.execute("PRAGMA foreign_keys=ON")
        return current

    async def _apply(self, number: int, sql: str, check_keys: bool) -> int:
        """Apply one migration in its own write transaction; return the version reached."""
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process (a second terminal chat
            # started at the same moment) may have applied it since.
            current = await self._user_version()
            if number <= current:
                await self.conn.execute("COMMIT")
                return current
            log.info("applying database migration %04d", number)
            for statement in _statements(sql):
                await self.conn.execute(statement)
            if check_keys:
                async with self.conn.execute("PRAGMA foreign_key_check") as cur:
                    broken = list(await cur.fetchall())
                if broken:
                    raise StoreError(f"migration {number:04d} left {len(broken)} rows "
                                     "pointing at nothing; nothing was changed")
            await self.conn.execute(f"PRAGMA user_version = {number}")
            await self.conn.execute("COMMIT")
        except Exception:
            await self.conn.execute("ROLLBACK")
            raise
        return number

    async def _open_keys(self, master_key: str | None, key_store: Path | None) -> None:
        """Load the key store, check it belongs here, and seal text from older versions."""
        async with self.conn.execute("SELECT count(*) FROM crypto_state") as cur:
            row = await cur.fetchone()
        bound = bool(row and row[0])  # a database that has keys refuses to get new ones
        self.keys = await asyncio.to_thread(crypto.open_keyring, self.path, master_key,
                                            key_store, not bound)
        crypto.attach(self.conn, self.keys)
        await crypto.bind(self.conn, self.keys, self.path)
        await crypto.seal_existing(self.conn)

    async def _user_version(self) -> int:
        """The schema version recorded in the file."""
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One serialised write transaction: committed on success, rolled back on error."""
        async with self._lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            memo.begin(self.conn)  # rows read once per transaction (bot/store/memo.py)
            try:
                yield self.conn
            except BaseException:
                memo.end(self.conn)
                self._scrub = False
                await self.conn.execute("ROLLBACK")
                self.keys.rolled_back()
                raise
            memo.end(self.conn)
            await self.conn.execute("COMMIT")
            # After the commit: keys of erased rows go only once the rows are surely gone.
            self.keys.committed()
            if self._scrub:
                self._scrub = False
                await self._checkpoint_and_truncate()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """A connection for reads that need no write lock: a second, read-only connection on
        the same file, so it sees only committed rows and never waits for a writer (WAL). An
        in-memory database has no second connection: it reads under the write lock."""
        if str(self.path) == ":memory:":
            async with self.transaction() as tx:
                yield tx
            return
        if self._reader is None:
            reader = await aiosqlite.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                             isolation_level=None)
            reader.row_factory = aiosqlite.Row
            crypto.attach(reader, self.keys)  # sealed cells open on either connection
            await reader.execute("PRAGMA busy_timeout=5000")
            if self._reader is None:
                self._reader = reader
            else:  # another coroutine opened one meanwhile
                await reader.close()
        yield self._reader

    def scrub_after_commit(self) -> None:
        """After the open transaction commits, empty the write-ahead log: erased rows' old page
        images would otherwise stay in the -wal file until SQLite happens to overwrite them."""
        self._scrub = True

    async def _checkpoint_and_truncate(self) -> None:
        """Copy the log into the database file and truncate it to zero bytes."""
        async with self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cur:
            row = await cur.fetchone()
        if row is not None and row[0]:
            # A reader (e.g. a running backup) held the log; the next scrub or SQLite's own
            # checkpoint finishes the job. Nothing about the leader is logged here.
            log.info("write-ahead log still in use; it is truncated at the next checkpoint")

    async def close(self) -> None:
        """Close the connections."""
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.close()
        await self.conn.close()


def _prepare_path(path: Path) -> None:
    """Create the file's folder; refuse a folder as the file."""
    if path.is_dir():
        raise StoreError(f"cannot open the database {path}: it is a directory")
    try:
        private_dir(path.parent)  # a folder the bot creates is its owner's only (0700)
        create_private(path)  # leaders' words: owner-only, also outside the container's /data
    except OSError as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from exc


async def _enable_wal(conn: aiosqlite.Connection, attempts: int = 100) -> None:
    """Switch to WAL; SQLite answers 'locked' at once (no busy wait) while another process
    opening the same new file holds a lock, so try again briefly."""
    for attempt in range(attempts):
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.05)


def _statements(sql: str) -> list[str]:
    """Split a migration into statements where SQLite itself says one is complete
    (sqlite3.complete_statement), so a semicolon inside a string, a comment or a trigger body
    does not cut a statement in two. Comment-only remainders are dropped."""
    statements: list[str] = []
    current = ""
    pieces = sql.split(";")
    for index, piece in enumerate(pieces):
        current += piece if index == len(pieces) - 1 else piece + ";"
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if _has_code(current):
        statements.append(current.strip())  # a last statement without its semicolon
    return [s for s in statements if _has_code(s)]


def _has_code(sql: str) -> bool:
    """Whether SQL text holds more than whitespace, '--' comments and a lone semicolon."""
    lines = [ln.strip() for ln in sql.splitlines()]
    return any(ln and not ln.startswith("--") and ln != ";" for ln in lines)
