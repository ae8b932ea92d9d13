-- Telegram: updates already handled (a repeated update_id is a no-op) and invite codes.
-- Neither table holds a leader id or anything a leader wrote.
CREATE TABLE telegram_updates (
    bot_id     INTEGER NOT NULL,
    update_id  INTEGER NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('processing', 'done')),
    seen_at    TEXT NOT NULL,              -- UTC ISO 8601, pruned after two days
    PRIMARY KEY (bot_id, update_id)
);
CREATE INDEX telegram_updates_seen ON telegram_updates(seen_at);

CREATE TABLE invites (
    code        TEXT PRIMARY KEY,          -- the /start payload of an invite link
    max_uses    INTEGER,                   -- NULL: unlimited
    uses        INTEGER NOT NULL DEFAULT 0,
    note        TEXT,                      -- the operator's own label, e.g. a department
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
