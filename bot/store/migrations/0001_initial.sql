-- Leaders, their conversations, the append-only history, and the schedule.
CREATE TABLE leaders (
    leader_id    TEXT PRIMARY KEY,          -- channel-qualified: 'tg:123', 'console:local'
    chat_id      TEXT,                      -- where to reach them on their channel
    language     TEXT NOT NULL DEFAULT 'da',
    timezone     TEXT NOT NULL DEFAULT 'Europe/Copenhagen',
    settings     TEXT NOT NULL DEFAULT '{}', -- JSON: nudge day/time, quiet hours, pause
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

-- The one active conversation per leader, as the engine's JSON state.
CREATE TABLE sessions (
    leader_id    TEXT PRIMARY KEY REFERENCES leaders(leader_id) ON DELETE CASCADE,
    state        TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

-- One row per conversation thread, finished or not, with its rendered summary.
CREATE TABLE threads (
    thread        TEXT PRIMARY KEY,
    leader_id     TEXT NOT NULL REFERENCES leaders(leader_id) ON DELETE CASCADE,
    conversation  TEXT NOT NULL,
    parent_thread TEXT,
    status        TEXT NOT NULL CHECK (status IN ('active', 'finished', 'cancelled', 'abandoned')),
    language      TEXT NOT NULL,
    headline      TEXT,
    summary       TEXT,
    started_at    TEXT NOT NULL,
    finished_at   TEXT
);
CREATE INDEX threads_leader ON threads(leader_id, started_at);

-- Append-only: every answer as given, even those later undone with /back.
CREATE TABLE answers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    leader_id    TEXT NOT NULL REFERENCES leaders(leader_id) ON DELETE CASCADE,
    thread       TEXT NOT NULL,
    conversation TEXT NOT NULL,
    node         TEXT NOT NULL,
    name         TEXT NOT NULL,
    value        TEXT NOT NULL,             -- JSON
    created_at   TEXT NOT NULL
);
CREATE INDEX answers_leader ON answers(leader_id, created_at);
CREATE INDEX answers_thread ON answers(thread);

-- Source of truth for everything sent later: follow-ups, nudges, reminders.
CREATE TABLE schedules (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    leader_id     TEXT NOT NULL REFERENCES leaders(leader_id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,            -- 'followup', 'nudge', 'reminder'
    conversation  TEXT,
    thread        TEXT,
    tag           TEXT,
    due_at        TEXT NOT NULL,            -- UTC ISO 8601
    status        TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'sending', 'sent', 'missed', 'cancelled')),
    payload       TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX schedules_due ON schedules(status, due_at);
CREATE INDEX schedules_leader ON schedules(leader_id);
CREATE INDEX schedules_thread ON schedules(thread);
