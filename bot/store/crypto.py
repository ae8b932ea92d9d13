"""Encryption at rest: per-leader data keys in a key store kept apart from the database.

What a leader wrote (answers, summaries, headlines, the conversation state, the free text in a
follow-up's payload) and what a team wrote (governance examples) is stored as AES-256-GCM
ciphertext. Each leader has a random data key; each governance round has one for its raw
examples, and the merged list that is shown to the group is sealed under one team key.

The data keys live in the key store, ``<database>.keys``: an owner-only file beside the
database, itself sealed under the master key (``TILLIDSBOT_MASTER_KEY``, or a random key
generated once into ``<database>.master-key``). ``tillidsbot backup`` copies the database only,
so removing a leader's key from the key store (``/forget``, ``tillidsbot forget``) makes their
rows unreadable in every database backup taken before as well: crypto-shredding.

A sealed cell is a BLOB: version byte, key id (8 bytes), nonce (12 bytes), ciphertext and tag.
The associated data names the table, column and row (and the key id), so a ciphertext copied
into another row, column or leader does not open. Text cells written by older versions are
TEXT; ``seal_existing`` encrypts them once at start-up (idempotent: it only picks TEXT cells).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import secrets
import sqlite3
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.config import ConfigError
from bot.private_files import create_private, publish_private, read_private, write_private

log = logging.getLogger(__name__)

MASTER_BYTES = 32
# A master key shorter than an AES-256 key would be the weakest link of every data key.
MIN_MASTER_BYTES = 32
DATA_KEY_BYTES = 32
KEY_ID_BYTES = 8
NONCE_BYTES = 12
VERSION = b"\x01"
HEADER_BYTES = 1 + KEY_ID_BYTES + NONCE_BYTES
FILE_MAGIC = b"TILLIDSBOT-KEYS-1\n"
FINGERPRINT_BYTES = 8
TEAM_OWNER = "team"
KEY_BATCH = 64  # keys made per durable write of the key store


class KeyStoreError(ConfigError):
    """The key store or its master key cannot be used (a one-line message for the operator)."""


def key_store_path(database_path: Path) -> Path:
    """Where a database's key store lives: beside it, never inside it."""
    return database_path.with_name(database_path.name + ".keys")


def master_key_path(database_path: Path) -> Path:
    """Where the generated master key lives when TILLIDSBOT_MASTER_KEY is not set."""
    return database_path.with_name(database_path.name + ".master-key")


def leader_owner(leader_id: str) -> str:
    """The key-store name of a leader's data key."""
    return f"leader:{leader_id}"


def round_owner(round_id: int | str) -> str:
    """The key-store name of a governance round's key for its raw examples."""
    return f"round:{round_id}"


def _derive(master: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for one purpose from the master key (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


def fingerprint(master: bytes) -> bytes:
    """A short public id of a master key: which key a key-store file is sealed under."""
    return _derive(master, b"tillidsbot master key id")[:FINGERPRINT_BYTES]


def _long_enough(master: bytes, source: str) -> bytes:
    """The master key, or a one-line KeyStoreError naming where it came from (never its value)."""
    if len(master) < MIN_MASTER_BYTES:
        raise KeyStoreError(
            f"{source} holds {len(master)} bytes; a master key needs at least "
            f"{MIN_MASTER_BYTES} (e.g. `openssl rand -base64 32`)")
    return master


def load_master_key(database_path: Path, configured: str | None,
                    source: str = "TILLIDSBOT_MASTER_KEY") -> bytes:
    """The configured master key, else the generated key file (created only with the key store)."""
    if configured is not None:
        return _long_enough(configured.encode("utf-8"), source)
    path = master_key_path(database_path)
    if not path.exists():
        if key_store_path(database_path).exists():
            raise KeyStoreError(
                f"the key store {key_store_path(database_path)} exists but its master key does "
                f"not: set TILLIDSBOT_MASTER_KEY or restore {path}")
        # Two first starts at once: only one key lands and both read it.
        publish_private(path, secrets.token_bytes(MASTER_BYTES))
    return _long_enough(read_private(path), f"the master key file {path}")


@dataclass
class _Contents:
    """Everything inside the key store file: data keys by key id, nothing about whose they are
    (which owner uses which key is recorded in the database, in data_keys)."""

    store_id: str
    keys: dict[bytes, bytes]
    doomed: set[bytes]  # keys whose erasure is under way: removed at the latest at next start

    def to_bytes(self) -> bytes:
        """The JSON inside the sealed file."""
        return json.dumps({
            "format": 1, "store_id": self.store_id,
            "doomed": sorted(k.hex() for k in self.doomed),
            "keys": {k.hex(): base64.b64encode(v).decode() for k, v in sorted(self.keys.items())},
        }).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> _Contents:
        """Parse the JSON inside the sealed file."""
        raw = json.loads(data)
        keys = {bytes.fromhex(k): base64.b64decode(v) for k, v in raw["keys"].items()}
        return cls(str(raw["store_id"]), keys, {bytes.fromhex(k) for k in raw.get("doomed", [])})


def seal_file(contents: _Contents, master: bytes) -> bytes:
    """The key store's bytes on disk: magic, master-key fingerprint, nonce, sealed JSON."""
    head = FILE_MAGIC + fingerprint(master)
    nonce = secrets.token_bytes(NONCE_BYTES)
    kek = AESGCM(_derive(master, b"tillidsbot key store v1"))
    return head + nonce + kek.encrypt(nonce, contents.to_bytes(), head)


def open_file(data: bytes, master: bytes, path: Path) -> _Contents:
    """The key store's contents, or a one-line KeyStoreError (wrong key, damaged file)."""
    if not data.startswith(FILE_MAGIC):
        raise KeyStoreError(f"{path} is not a Tillidsbot key store")
    cut = len(FILE_MAGIC) + FINGERPRINT_BYTES
    head, nonce, sealed = data[:cut], data[cut:cut + NONCE_BYTES], data[cut + NONCE_BYTES:]
    if head[len(FILE_MAGIC):] != fingerprint(master):
        raise KeyStoreError(f"the key store {path} is sealed under another master key than the "
                            "one configured (TILLIDSBOT_MASTER_KEY or the .master-key file)")
    try:
        plain = AESGCM(_derive(master, b"tillidsbot key store v1")).decrypt(nonce, sealed, head)
    except InvalidTag:
        raise KeyStoreError(f"the key store {path} is damaged; restore it from its "
                            "backup (tillidsbot keys backup)") from None
    return _Contents.from_bytes(plain)


class Keyring:
    """The data keys of one database, read from (and written through to) its key store file.

    Every change is read-modify-write under an exclusive lock on ``<keys>.lock``, so a
    `tillidsbot forget` in another process is never undone by this one writing a stale copy;
    reads notice a changed file (by its stat) and load it again. New keys are made in batches
    (one durable write per batch) and handed out from memory; which owner got which key is
    written to the database's data_keys table in the same transaction as the first text sealed
    under it. A key made but never handed out (the process stopped) is simply never used.
    """

    def __init__(self, path: Path | None, master: bytes) -> None:
        """Use Keyring.load (path None: in memory only, for a ':memory:' database)."""
        self.path = path
        self._master = master
        self._contents = _Contents(secrets.token_hex(8), {}, set())
        self._by_id: dict[bytes, AESGCM] = {}
        self._seen: tuple[int, int, int] | None = None
        self._pool: list[bytes] = []  # made by this process, durable, not yet handed out
        self._owners: dict[str, bytes] = {}  # owner -> key id, as data_keys says
        self._assigned: list[str] = []  # owners given a key in the open transaction
        self._pending: set[bytes] = set()  # keys doomed in the open transaction
        self.created = False
        self.master_file: Path | None = None  # the generated master key, when that is in use

    @classmethod
    def load(cls, path: Path | None, master: bytes, create: bool = True) -> Keyring:
        """Load the key store at path (creating an empty one when allowed and missing)."""
        ring = cls(path, master)
        if path is None:
            return ring
        if not path.exists():
            if not create:
                raise KeyStoreError(f"no key store at {path}")
            if publish_private(path, seal_file(ring._contents, master)):
                ring.created = True
        ring._reload()
        if ring._contents.doomed:
            ring._finish_erasures(set(ring._contents.doomed))
        return ring

    @property
    def store_id(self) -> str:
        """A random id of this key store, recorded in the database it serves."""
        return self._contents.store_id

    # ---- reading and writing the file ---------------------------------------------------------

    def _stat(self) -> tuple[int, int, int] | None:
        """What identifies the file's current version (a rename gives a new inode)."""
        if self.path is None:
            return None
        st = os.stat(self.path)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _reload(self) -> None:
        """Read the file again (and the generated master key, if a rotation replaced it)."""
        assert self.path is not None
        seen = self._stat()
        data = read_private(self.path)
        try:
            contents = open_file(data, self._master, self.path)
        except KeyStoreError:
            if self.master_file is None:
                raise
            # `tillidsbot keys rotate` ran beside this process: the new key is in the file
            # (or still beside it, for the instant before it is renamed into place).
            for candidate in (self.master_file,
                              self.master_file.with_name(self.master_file.name + ".next")):
                with contextlib.suppress(OSError):
                    new = read_private(candidate)
                    if data[len(FILE_MAGIC):len(FILE_MAGIC) + FINGERPRINT_BYTES] == \
                            fingerprint(new):
                        self._master = new
                        break
            contents = open_file(data, self._master, self.path)
        self._use(contents)
        self._seen = seen

    def _fresh(self) -> None:
        """Reload when another process (or a restore) changed the file."""
        if self.path is not None and self._stat() != self._seen:
            self._reload()

    def _use(self, contents: _Contents) -> None:
        """Make contents the current key set (forgetting what refers to removed keys)."""
        self._contents = contents
        self._by_id = {k: AESGCM(v) for k, v in contents.keys.items()}
        self._pool = [k for k in self._pool if k in self._by_id]
        self._owners = {o: k for o, k in self._owners.items() if k in self._by_id}

    @contextlib.contextmanager
    def _changing(self) -> Iterator[_Contents]:
        """Change the key store: locked, on the newest contents, written whole and durable."""
        if self.path is None:
            yield self._contents
            self._use(self._contents)
            return
        lock = self.path.with_name(self.path.name + ".lock")
        create_private(lock)
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._reload()
            contents = self._contents
            yield contents
            write_private(self.path, seal_file(contents, self._master))
            self._use(contents)
            self._seen = self._stat()
        finally:
            os.close(fd)  # releases the lock

    def write_to(self, target: Path, master: bytes | None = None) -> Path:
        """Write the current key store, sealed under master (default: the current one)."""
        self._fresh()
        return write_private(target, seal_file(self._contents, master or self._master))

    def rotate(self, new_master: bytes) -> None:
        """Seal the key store under a new master key (the data keys stay as they are)."""
        with self._changing():
            self._master = new_master

    # ---- data keys ----------------------------------------------------------------------------

    def _new_key(self) -> bytes:
        """A key id from this process's pool, made (and made durable) a batch at a time."""
        if not self._pool:
            fresh = {secrets.token_bytes(KEY_ID_BYTES): AESGCM.generate_key(bit_length=256)
                     for _ in range(KEY_BATCH)}
            with self._changing() as contents:
                contents.keys.update(fresh)
            self._pool = list(fresh)
        return self._pool.pop()

    async def key_for(self, conn: aiosqlite.Connection, owner: str) -> tuple[bytes, AESGCM]:
        """The owner's data key; the first use hands one out, recorded in the open transaction."""
        self._fresh()
        key_id = self._owners.get(owner)
        if key_id is None:
            async with conn.execute("SELECT key_id FROM data_keys WHERE owner = ?",
                                    (owner,)) as cur:
                row = await cur.fetchone()
            if row is not None and bytes(row[0]) in self._by_id:
                key_id = bytes(row[0])
            else:  # none yet, or erased (an old database restored): a new one from now on
                key_id = self._new_key()
                await conn.execute(
                    "INSERT INTO data_keys (owner, key_id) VALUES (?, ?) ON CONFLICT(owner) "
                    "DO UPDATE SET key_id = excluded.key_id", (owner, key_id))
                self._assigned.append(owner)
            self._owners[owner] = key_id
        return key_id, self._by_id[key_id]

    def holds(self, owner: str) -> bool:
        """Whether this process has handed out the owner's key and it is not being erased
        (sealing under it then adds no key record)."""
        return owner in self._owners

    def has_key(self, key_id: bytes) -> bool:
        """Whether the key store holds this data key."""
        self._fresh()
        return key_id in self._by_id

    def count(self) -> int:
        """How many data keys the key store holds."""
        self._fresh()
        return len(self._by_id)

    async def seal(self, conn: aiosqlite.Connection, owner: str, plain: str,
                   aad: bytes) -> bytes:
        """Encrypt text under owner's data key, bound to aad (table, column, row)."""
        key_id, cipher = await self.key_for(conn, owner)
        nonce = secrets.token_bytes(NONCE_BYTES)
        head = VERSION + key_id + nonce
        return head + cipher.encrypt(nonce, plain.encode("utf-8"), head[:-NONCE_BYTES] + aad)

    def open(self, blob: bytes, aad: bytes) -> str | None:
        """The text in a sealed cell; None when its key was erased (or the cell was tampered)."""
        if len(blob) < HEADER_BYTES + 16 or blob[:1] != VERSION:
            log.warning("a stored cell is not in the sealed format")
            return None
        key_id = blob[1:1 + KEY_ID_BYTES]
        self._fresh()
        cipher = self._by_id.get(key_id)
        if cipher is None:
            return None  # erased: that is the point of crypto-shredding, not an error
        try:
            plain = cipher.decrypt(blob[1 + KEY_ID_BYTES:HEADER_BYTES], blob[HEADER_BYTES:],
                                   blob[:1 + KEY_ID_BYTES] + aad)
        except InvalidTag:
            log.warning("a stored cell failed its integrity check (moved or altered)")
            return None
        return plain.decode("utf-8")

    # ---- erasure ------------------------------------------------------------------------------

    async def doom(self, conn: aiosqlite.Connection, owner: str) -> None:
        """Drop the owner's key: its record now, the key itself when the transaction commits.

        The key is marked in the key store (durably) before its record is deleted: after a
        crash at any point the next start removes it, so the erasure reaches old database
        backups whatever happens.
        """
        async with conn.execute("SELECT key_id FROM data_keys WHERE owner = ?", (owner,)) as cur:
            row = await cur.fetchone()
        self._owners.pop(owner, None)
        if row is None:
            return
        key_id = bytes(row[0])
        await conn.execute("DELETE FROM data_keys WHERE owner = ?", (owner,))
        self._fresh()
        if key_id not in self._contents.keys or key_id in self._pending:
            return
        with self._changing() as contents:
            contents.doomed.add(key_id)
        self._pending.add(key_id)

    def committed(self) -> None:
        """The transaction committed: keys it doomed leave the key store."""
        self._assigned.clear()
        if self._pending:
            doomed, self._pending = self._pending, set()
            self._finish_erasures(doomed)

    def rolled_back(self) -> None:
        """The transaction rolled back: its key records are gone, doomed keys stay."""
        for owner in self._assigned:
            self._owners.pop(owner, None)  # the key handed out is simply never used
        self._assigned.clear()
        if not self._pending:
            return
        doomed, self._pending = self._pending, set()
        with self._changing() as contents:
            contents.doomed -= doomed

    def _finish_erasures(self, doomed: set[bytes]) -> None:
        """Remove the keys (and their marks)."""
        with self._changing() as contents:
            for key_id in doomed:
                contents.keys.pop(key_id, None)
            contents.doomed -= doomed


async def key_id_of(conn: aiosqlite.Connection, owner: str) -> bytes | None:
    """Which data key an owner's text is sealed under (from the database's data_keys)."""
    async with conn.execute("SELECT key_id FROM data_keys WHERE owner = ?", (owner,)) as cur:
        row = await cur.fetchone()
    return None if row is None else bytes(row[0])


def next_master_path(database_path: Path) -> Path:
    """A new generated master key while a rotation is under way."""
    return database_path.with_name(database_path.name + ".master-key.next")


def memory_keyring() -> Keyring:
    """Keys that live only as long as the process (a ':memory:' database)."""
    return Keyring(None, secrets.token_bytes(MASTER_BYTES))


def open_keyring(database_path: Path, configured: str | None = None,
                 key_store: Path | None = None, create: bool = True) -> Keyring:
    """The keyring of a database: its key store (default beside it) under its master key.

    create=False refuses a missing key store (the database already holds sealed text). A
    rotation interrupted after the key store was sealed under the new generated key is
    finished here.
    """
    if str(database_path) == ":memory:":
        return memory_keyring()
    path = key_store or key_store_path(database_path)
    if not path.exists() and not create:
        raise KeyStoreError(
            f"{database_path} holds encrypted text but its key store {path} is missing; "
            "restore the key store from its backup (tillidsbot keys backup)")
    # A key store named explicitly (a backup opened with the current key store): the
    # generated master key is the one beside that key store.
    base = database_path if key_store is None else path.with_name(
        path.name.removesuffix(".keys"))
    master = load_master_key(base, configured)
    upcoming = next_master_path(base)
    if configured is None and upcoming.exists() and path.exists():
        new = read_private(upcoming)
        if read_private(path)[len(FILE_MAGIC):len(FILE_MAGIC) + FINGERPRINT_BYTES] == \
                fingerprint(new):
            os.replace(upcoming, master_key_path(base))  # finish the rotation
            master = new
        else:
            upcoming.unlink()  # the rotation never sealed the key store: the old key holds
    ring = Keyring.load(path, master, create)
    if configured is None:
        ring.master_file = master_key_path(base)
    return ring


def rotate(database_path: Path, configured: str | None, new_configured: str | None) -> str:
    """Seal the key store under a new master key; return what the operator must do next.

    With a generated key file the new key is written beside it first and renamed into place
    after the key store is sealed under it, so a crash at any point leaves a usable pair.
    """
    ring = open_keyring(database_path, configured, create=False)
    if new_configured is not None:
        new = _long_enough(new_configured.encode("utf-8"), "TILLIDSBOT_NEW_MASTER_KEY")
        ring.rotate(new)
        if configured is None:
            master_key_path(database_path).unlink(missing_ok=True)  # no longer opens anything
        return ("the key store is sealed under TILLIDSBOT_NEW_MASTER_KEY: set "
                "TILLIDSBOT_MASTER_KEY to that value before the next start")
    if configured is not None:
        raise KeyStoreError("TILLIDSBOT_MASTER_KEY is set: give the new master key in "
                            "TILLIDSBOT_NEW_MASTER_KEY")
    new = secrets.token_bytes(MASTER_BYTES)
    upcoming = next_master_path(database_path)
    write_private(upcoming, new)
    ring.rotate(new)
    os.replace(upcoming, master_key_path(database_path))
    return f"the key store is sealed under a new master key in {master_key_path(database_path)}"


# ---- the keyring of a connection ----------------------------------------------------------------

_RINGS: weakref.WeakKeyDictionary[aiosqlite.Connection, Keyring] = weakref.WeakKeyDictionary()


def attach(conn: aiosqlite.Connection, ring: Keyring) -> None:
    """Make ring the keyring of every query on conn (the store does this when it opens)."""
    _RINGS[conn] = ring


def keyring(conn: aiosqlite.Connection) -> Keyring:
    """The keyring of the store that owns conn."""
    ring = _RINGS.get(conn)
    if ring is None:
        raise RuntimeError("this connection has no keyring: open it with Store.open")
    return ring


def aad(table: str, column: str, row_key: str) -> bytes:
    """Associated data naming one cell."""
    return f"{table}\x1f{column}\x1f{row_key}".encode()


# ---- which cells are sealed ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sealed:
    """One encrypted column: whose key seals it and which columns name its row."""

    table: str
    column: str
    keys: tuple[str, ...]  # the columns that identify the row (also used to update it)
    owner: Callable[[Mapping[str, Any]], str]
    only: str = ""  # SQL condition picking the rows that carry free text (default: all)

    def owner_of(self, row: Mapping[str, Any]) -> str:
        """The key owner of a row."""
        return self.owner(row)

    def aad_of(self, row: Mapping[str, Any]) -> bytes:
        """The associated data of a row's cell."""
        return aad(self.table, self.column, "/".join(str(row[k]) for k in self.keys))


def _leader(row: Mapping[str, Any]) -> str:
    """Rows sealed under their leader's key."""
    return leader_owner(str(row["leader_id"]))


SEALED: tuple[Sealed, ...] = (
    Sealed("sessions", "state", ("leader_id",), _leader),
    Sealed("threads", "headline", ("thread",), _leader),
    Sealed("threads", "summary", ("thread",), _leader),
    Sealed("answers", "value", ("id",), _leader),
    # Follow-ups carry the leader's words ({"context": {"task": ...}}); nudges only a slot the
    # scheduler reads with json_extract, so they stay plain.
    Sealed("schedules", "payload", ("id",), _leader, "payload LIKE '%\"context\"%'"),
    Sealed("team_gov_examples", "text", ("round_id", "id"),
           lambda row: round_owner(row["round_id"])),
    Sealed("team_gov_rounds", "items", ("id",), lambda row: TEAM_OWNER),
    # A reply waiting to be sent (bot/store/outbox.py) quotes the leader's words back.
    Sealed("reply_outbox", "message", ("channel", "leader_id", "event_id", "seq"), _leader),
)
BY_CELL = {(s.table, s.column): s for s in SEALED}


async def seal_cell(conn: aiosqlite.Connection, table: str, column: str,
                    row: Mapping[str, Any], plain: str | None) -> bytes | None:
    """The sealed form of a cell's text (None stays NULL); inside a write transaction."""
    if plain is None:
        return None
    spec = BY_CELL[(table, column)]
    return await keyring(conn).seal(conn, spec.owner_of(row), plain, spec.aad_of(row))


def open_cell(conn: aiosqlite.Connection, table: str, column: str, row: Mapping[str, Any],
              stored: Any) -> str | None:
    """A cell's text: sealed cells are opened (None if unreadable), TEXT from older rows kept."""
    if stored is None or isinstance(stored, str):
        return stored
    return open_stored(keyring(conn), table, column, row, stored)


def open_stored(ring: Keyring, table: str, column: str, row: Mapping[str, Any],
                stored: Any) -> str | None:
    """open_cell with an explicit keyring (for tools that read the file without a store)."""
    if stored is None or isinstance(stored, str):
        return stored
    return ring.open(bytes(stored), BY_CELL[(table, column)].aad_of(row))


def open_row(conn: aiosqlite.Connection, table: str, row: dict[str, Any]) -> dict[str, Any]:
    """A whole row (column -> value) with its sealed cells opened."""
    for spec in SEALED:
        if spec.table == table and spec.column in row and all(k in row for k in spec.keys):
            row[spec.column] = open_cell(conn, table, spec.column, row, row[spec.column])
    return row


# ---- start-up: the key store of this database and the one-time encryption ---------------------

SEAL_BATCH = 200


async def bind(conn: aiosqlite.Connection, ring: Keyring, database: Path) -> None:
    """Check that ring is this database's key store and record it; refuse a mismatch."""
    async with conn.execute("SELECT key_store FROM crypto_state WHERE id = 1") as cur:
        row = await cur.fetchone()
    if row is None:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            await conn.execute("INSERT INTO crypto_state (id, key_store, sealed) VALUES (1, ?, 0) "
                               "ON CONFLICT(id) DO NOTHING", (ring.store_id,))
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        async with conn.execute("SELECT key_store FROM crypto_state WHERE id = 1") as cur:
            row = await cur.fetchone()
    assert row is not None
    if str(row[0]) != ring.store_id:
        raise KeyStoreError(
            f"the key store {ring.path} belongs to another database than {database}; use the "
            "key store that was beside this database (or its backup)")


async def seal_existing(conn: aiosqlite.Connection) -> int:
    """Encrypt every cell still stored as text (from before encryption); return how many.

    Batches of rows, each its own transaction: a crash leaves some cells sealed and the next
    start seals the rest (it only picks TEXT cells, so running it again changes nothing).
    Freed pages are overwritten and the log emptied, so no plain copy stays in the files.
    """
    async with conn.execute("SELECT sealed FROM crypto_state WHERE id = 1") as cur:
        row = await cur.fetchone()
    if row is not None and row[0]:
        return 0
    async with conn.execute("PRAGMA secure_delete") as cur:
        setting = await cur.fetchone()
    await conn.execute("PRAGMA secure_delete = ON")
    total = 0
    for spec in SEALED:
        where = f"typeof({spec.column}) = 'text'" + (f" AND {spec.only}" if spec.only else "")
        wanted = ", ".join(dict.fromkeys((*spec.keys, "leader_id")
                                         if spec.owner is _leader else spec.keys))
        while True:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                async with conn.execute(
                        f"SELECT {wanted}, {spec.column} FROM {spec.table} WHERE {where} "
                        f"LIMIT {SEAL_BATCH}") as cur:
                    names = [d[0] for d in cur.description]
                    rows = [dict(zip(names, tuple(r), strict=True)) for r in await cur.fetchall()]
                for found in rows:
                    sealed = await seal_cell(conn, spec.table, spec.column, found,
                                             found[spec.column])
                    match = " AND ".join(f"{k} = ?" for k in spec.keys)
                    await conn.execute(
                        f"UPDATE {spec.table} SET {spec.column} = ? WHERE {match}",
                        (sealed, *(found[k] for k in spec.keys)))
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                keyring(conn).rolled_back()
                raise
            keyring(conn).committed()
            total += len(rows)
            if len(rows) < SEAL_BATCH:
                break
    await conn.execute("UPDATE crypto_state SET sealed = 1 WHERE id = 1")
    if total:
        log.info("encrypted %d stored texts written before encryption at rest", total)
        try:
            # secure_delete already zeroed the old cells; rewriting the file and emptying the
            # log makes sure no page anywhere keeps a plain copy.
            await conn.execute("VACUUM")
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError:  # another process holds the file: not needed to run
            log.warning("could not compact the database after encrypting it; run the bot "
                        "alone once to finish")
    await conn.execute(f"PRAGMA secure_delete = {int(setting[0]) if setting else 0}")
    return total
