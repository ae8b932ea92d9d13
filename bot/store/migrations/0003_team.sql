-- Team check-ins in group chats (issue 6): groups, anonymous pulses, red/green governance rounds.
-- Privacy by construction: no table holds a member's user id. Answers and votes are keyed by a
-- keyed hash (HMAC with a deployment secret kept outside this database) scoped to one pulse or
-- one round, so rows cannot be linked to a person or to each other across pulses. The answer,
-- vote and example tables are WITHOUT ROWID with no timestamps, so their storage order follows
-- the hash (or a random id), not the moment someone answered.
CREATE TABLE team_groups (
    chat_id         TEXT PRIMARY KEY,        -- the group chat as the channel names it
    language        TEXT NOT NULL DEFAULT 'da',
    cadence         TEXT NOT NULL DEFAULT 'weekly' CHECK (cadence IN ('weekly', 'biweekly')),
    weekday         INTEGER NOT NULL DEFAULT 0 CHECK (weekday BETWEEN 0 AND 6),
    at_time         TEXT NOT NULL DEFAULT '09:00',   -- local wall-clock HH:MM
    timezone        TEXT NOT NULL DEFAULT 'Europe/Copenhagen',
    status          TEXT NOT NULL DEFAULT 'off' CHECK (status IN ('active', 'paused', 'off')),
    min_respondents INTEGER NOT NULL DEFAULT 3 CHECK (min_respondents >= 3),
    open_hours      INTEGER NOT NULL DEFAULT 48 CHECK (open_hours BETWEEN 1 AND 336),
    next_pulse_at   TEXT,                    -- UTC, NULL unless active
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX team_groups_due ON team_groups(status, next_pulse_at);

CREATE TABLE team_pulses (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id     TEXT NOT NULL REFERENCES team_groups(chat_id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,            -- 1, 2, 3 … within the group
    status      TEXT NOT NULL CHECK (status IN ('opening', 'open', 'closing', 'closed')),
    language    TEXT NOT NULL,
    opened_at   TEXT NOT NULL,
    closes_at   TEXT NOT NULL,
    closed_at   TEXT,
    message_id  TEXT,                        -- the one group message, edited in place
    shown_count INTEGER NOT NULL DEFAULT 0,  -- the respondent count the message shows now
    result      TEXT,                        -- JSON aggregates at close (counts only)
    UNIQUE (chat_id, seq)
);
CREATE INDEX team_pulses_due ON team_pulses(status, closes_at);

CREATE TABLE team_pulse_answers (
    pulse_id    INTEGER NOT NULL REFERENCES team_pulses(id) ON DELETE CASCADE,
    member_hash TEXT NOT NULL,
    trust       INTEGER CHECK (trust BETWEEN 1 AND 5),
    meaning     TEXT CHECK (meaning IN ('yes', 'partly', 'no')),
    PRIMARY KEY (pulse_id, member_hash)
) WITHOUT ROWID;

CREATE TABLE team_gov_rounds (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id         TEXT NOT NULL REFERENCES team_groups(chat_id) ON DELETE CASCADE,
    token           TEXT NOT NULL UNIQUE,    -- in the deep link to the private chat
    status          TEXT NOT NULL CHECK (status IN ('collecting', 'voting', 'closed')),
    language        TEXT NOT NULL,
    leader_chat     TEXT NOT NULL,           -- the admin who opened it gets the result there
    opened_at       TEXT NOT NULL,
    collect_until   TEXT NOT NULL,
    vote_hours      INTEGER NOT NULL,
    vote_until      TEXT,
    closed_at       TEXT,
    message_id      TEXT,                    -- the invitation, edited with the live count
    vote_message_id TEXT,                    -- the examples and the vote, edited likewise
    shown_count     INTEGER NOT NULL DEFAULT 0,
    items           TEXT,                    -- JSON: merged examples as shown, numbered
    result          TEXT,                    -- JSON: tallies at close
    notified        INTEGER NOT NULL DEFAULT 0  -- the leader got the result
);
CREATE INDEX team_gov_rounds_chat ON team_gov_rounds(chat_id, status);

CREATE TABLE team_gov_examples (
    round_id INTEGER NOT NULL REFERENCES team_gov_rounds(id) ON DELETE CASCADE,
    id       TEXT NOT NULL,                  -- random, so order says nothing
    colour   TEXT NOT NULL CHECK (colour IN ('red', 'green')),
    text     TEXT NOT NULL,                  -- anonymised on arrival, no author column
    PRIMARY KEY (round_id, id)
) WITHOUT ROWID;

-- Who contributed how many, as round-scoped hashes, deliberately not linked to the examples.
CREATE TABLE team_gov_contributors (
    round_id    INTEGER NOT NULL REFERENCES team_gov_rounds(id) ON DELETE CASCADE,
    member_hash TEXT NOT NULL,
    examples    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (round_id, member_hash)
) WITHOUT ROWID;

-- A member between tapping the deep link and sending their example (hash, not id).
CREATE TABLE team_gov_drafts (
    member_hash TEXT PRIMARY KEY,
    round_id    INTEGER NOT NULL REFERENCES team_gov_rounds(id) ON DELETE CASCADE,
    colour      TEXT CHECK (colour IN ('red', 'green')),
    created_at  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE team_gov_votes (
    round_id    INTEGER NOT NULL REFERENCES team_gov_rounds(id) ON DELETE CASCADE,
    item        INTEGER NOT NULL,            -- the number shown in the group
    member_hash TEXT NOT NULL,
    option      TEXT NOT NULL CHECK (option IN ('remove', 'change', 'anchor')),
    PRIMARY KEY (round_id, item, member_hash)
) WITHOUT ROWID;
