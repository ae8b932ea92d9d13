-- Team posts that must go out once (a pulse, its result, the leader's private result) are
-- marked here, committed, before the channel is called, and unmarked with the outcome. A mark
-- left by another process means that process died mid-send: the message may or may not have
-- arrived, and it is recorded as sent rather than posted a second time.
CREATE TABLE team_sends (
    key        TEXT PRIMARY KEY,               -- 'post:<pulse>', 'publish:<pulse>', 'notify:<round>'
    owner      TEXT NOT NULL,                  -- a random token per running process
    started_at TEXT NOT NULL
);
