-- Encryption at rest (issue 17): what leaders and teams wrote is stored as AES-GCM ciphertext
-- (BLOBs in the same columns: sessions.state, threads.headline and .summary, answers.value,
-- follow-up schedules.payload, team_gov_examples.text, team_gov_rounds.items), under data keys
-- kept in a key store beside the database, never in it (bot/store/crypto.py). SQL cannot
-- encrypt: the rows older versions wrote as text are sealed by a one-time step at start-up,
-- which picks only TEXT cells (so it can be interrupted and run again) and then sets `sealed`.
-- This row names the key store that belongs to the database, so a database opened beside a
-- missing or foreign key store is refused instead of silently losing every text.
CREATE TABLE crypto_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    key_store TEXT NOT NULL,                 -- the random id inside the key store file
    sealed    INTEGER NOT NULL DEFAULT 0     -- 1 once text from before encryption is sealed
);
-- Which data key each owner's text is sealed under ('leader:<id>', 'round:<id>', 'team'). The
-- keys themselves are only in the key store. A row is written in the same transaction as the
-- first text sealed under its key, and deleted when the owner is erased (after which the key
-- leaves the key store, so no earlier backup of this database opens that text again).
CREATE TABLE data_keys (
    owner  TEXT PRIMARY KEY,
    key_id BLOB NOT NULL UNIQUE
);
