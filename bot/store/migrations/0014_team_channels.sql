-- foreign_keys: off
-- Team groups carry their channel (issue 12): a group is (channel, chat_id), so two channels'
-- groups with the same chat id never meet, and each channel ticks only its own groups. Every
-- table keyed by a group's chat gets the channel beside it; existing rows are Telegram's.
-- SQLite cannot change a primary key in place, so team_groups, team_pulses, team_gov_rounds
-- and team_chat_moves are rebuilt (the runner applies this file with foreign keys off and
-- checks them all before committing). Ids are kept, so answers, votes, examples and leaders
-- stay attached to their pulse or round.
CREATE TABLE team_groups_new (
    channel         TEXT NOT NULL DEFAULT 'telegram',  -- the channel the group lives on
    chat_id         TEXT NOT NULL,           -- the group chat as the channel names it
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
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (channel, chat_id)
);
INSERT INTO team_groups_new (channel, chat_id, language, cadence, weekday, at_time, timezone,
                             status, min_respondents, open_hours, next_pulse_at, created_at,
                             updated_at)
SELECT 'telegram', chat_id, language, cadence, weekday, at_time, timezone, status,
       min_respondents, open_hours, next_pulse_at, created_at, updated_at FROM team_groups;

CREATE TABLE team_pulses_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel     TEXT NOT NULL DEFAULT 'telegram',
    chat_id     TEXT NOT NULL,
    seq         INTEGER NOT NULL,            -- 1, 2, 3 … within the group
    status      TEXT NOT NULL CHECK (status IN ('opening', 'open', 'closing', 'closed')),
    language    TEXT NOT NULL,
    opened_at   TEXT NOT NULL,
    closes_at   TEXT NOT NULL,
    closed_at   TEXT,
    message_id  TEXT,                        -- the one group message, edited in place
    shown_count INTEGER NOT NULL DEFAULT 0,  -- the respondent count the message shows now
    result      TEXT,                        -- JSON aggregates at close (counts only)
    UNIQUE (channel, chat_id, seq),
    FOREIGN KEY (channel, chat_id) REFERENCES team_groups(channel, chat_id) ON DELETE CASCADE
);
INSERT INTO team_pulses_new (id, channel, chat_id, seq, status, language, opened_at, closes_at,
                             closed_at, message_id, shown_count, result)
SELECT id, 'telegram', chat_id, seq, status, language, opened_at, closes_at, closed_at,
       message_id, shown_count, result FROM team_pulses;

CREATE TABLE team_gov_rounds_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel         TEXT NOT NULL DEFAULT 'telegram',
    chat_id         TEXT NOT NULL,
    token           TEXT NOT NULL UNIQUE,    -- in the link to the private chat
    status          TEXT NOT NULL CHECK (status IN ('collecting', 'voting', 'closed')),
    language        TEXT NOT NULL,
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
    notified        INTEGER NOT NULL DEFAULT 0,  -- the leader got the result
    FOREIGN KEY (channel, chat_id) REFERENCES team_groups(channel, chat_id) ON DELETE CASCADE
);
INSERT INTO team_gov_rounds_new (id, channel, chat_id, token, status, language, opened_at,
                                 collect_until, vote_hours, vote_until, closed_at, message_id,
                                 vote_message_id, shown_count, items, result, notified)
SELECT id, 'telegram', chat_id, token, status, language, opened_at, collect_until, vote_hours,
       vote_until, closed_at, message_id, vote_message_id, shown_count, items, result, notified
  FROM team_gov_rounds;

-- The AUTOINCREMENT counters carry over, so an id is never reused (old buttons stay dead).
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'team_pulses')
 WHERE name = 'team_pulses_new' AND EXISTS (SELECT 1 FROM sqlite_sequence
                                             WHERE name = 'team_pulses');
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'team_gov_rounds')
 WHERE name = 'team_gov_rounds_new' AND EXISTS (SELECT 1 FROM sqlite_sequence
                                                 WHERE name = 'team_gov_rounds');

INSERT INTO sqlite_sequence (name, seq)
SELECT 'team_pulses_new', seq FROM sqlite_sequence WHERE name = 'team_pulses'
   AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'team_pulses_new');
INSERT INTO sqlite_sequence (name, seq)
SELECT 'team_gov_rounds_new', seq FROM sqlite_sequence WHERE name = 'team_gov_rounds'
   AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'team_gov_rounds_new');

DROP TABLE team_gov_rounds;
DROP TABLE team_pulses;
DROP TABLE team_groups;
ALTER TABLE team_groups_new RENAME TO team_groups;
ALTER TABLE team_pulses_new RENAME TO team_pulses;
ALTER TABLE team_gov_rounds_new RENAME TO team_gov_rounds;
CREATE INDEX team_groups_due ON team_groups(status, next_pulse_at);
CREATE INDEX team_pulses_due ON team_pulses(status, closes_at);
CREATE INDEX team_gov_rounds_chat ON team_gov_rounds(channel, chat_id, status);

CREATE TABLE team_chat_moves_new (
    channel     TEXT NOT NULL DEFAULT 'telegram',
    old_chat_id TEXT NOT NULL,
    new_chat_id TEXT NOT NULL,
    moved_at    TEXT NOT NULL,
    PRIMARY KEY (channel, old_chat_id)
);
INSERT INTO team_chat_moves_new (channel, old_chat_id, new_chat_id, moved_at)
SELECT 'telegram', old_chat_id, new_chat_id, moved_at FROM team_chat_moves;
DROP TABLE team_chat_moves;
ALTER TABLE team_chat_moves_new RENAME TO team_chat_moves;

ALTER TABLE team_setup_wizards ADD COLUMN channel TEXT NOT NULL DEFAULT 'telegram';
DROP INDEX team_setup_wizards_chat;
CREATE INDEX team_setup_wizards_chat ON team_setup_wizards(channel, chat_id, status);
