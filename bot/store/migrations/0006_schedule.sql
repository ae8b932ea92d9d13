-- Scheduling (issue 5): clearer outcomes, links between a nudge and its snooze/reminder, and
-- indexes for the one dispatcher that reads due rows. SQLite cannot change a CHECK constraint in
-- place, so the table is rebuilt with its rows kept.
CREATE TABLE schedules_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    leader_id     TEXT NOT NULL REFERENCES leaders(leader_id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,            -- 'followup', 'nudge', 'snooze', 'reminder'
    conversation  TEXT,
    thread        TEXT,                     -- follow-up: the thread it came from, nudge: the thread it opened
    tag           TEXT,
    due_at        TEXT NOT NULL,            -- UTC ISO 8601, moved later by quiet hours or a pause
    status        TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'sending', 'sent', 'unconfirmed', 'missed',
                                    'skipped', 'failed', 'cancelled')),
    payload       TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    parent_id     INTEGER,                  -- snooze/reminder: the nudge it belongs to
    sent_at       TEXT,
    note          TEXT                      -- why it was skipped, missed, failed or moved
);
INSERT INTO schedules_new (id, leader_id, kind, conversation, thread, tag, due_at, status, payload,
                           created_at, updated_at)
    SELECT id, leader_id, kind, conversation, thread, tag, due_at, status, payload, created_at,
           updated_at FROM schedules;
DROP TABLE schedules;
ALTER TABLE schedules_new RENAME TO schedules;
CREATE INDEX schedules_due ON schedules(status, due_at);
CREATE INDEX schedules_leader ON schedules(leader_id, kind, status);
CREATE INDEX schedules_thread ON schedules(thread);
-- Never two upcoming weekly nudges for one leader, whatever the code does.
CREATE UNIQUE INDEX schedules_one_nudge ON schedules(leader_id)
    WHERE kind = 'nudge' AND status = 'pending';
-- At most one reminder per nudge, ever (a cancelled one may be replaced after a snooze).
CREATE UNIQUE INDEX schedules_one_reminder ON schedules(parent_id)
    WHERE kind = 'reminder' AND status IN ('pending', 'sending', 'sent', 'unconfirmed');
-- New leaders get their first weekly nudge without scanning everyone on each tick.
CREATE INDEX leaders_created ON leaders(created_at);
