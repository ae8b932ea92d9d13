-- The /checkin setup button wizard: one group message edited through the steps. The choices
-- live here rather than in the buttons, so a restart mid-way loses nothing and a button can
-- only pick from what the current step offers. Group chat ids and settings only: nothing here
-- is about a person (who pressed is checked with the channel on every press, never stored).
CREATE TABLE team_setup_wizards (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: old buttons stay dead
    chat_id        TEXT NOT NULL,
    message_id     TEXT,                    -- the one wizard message, edited in place
    status         TEXT NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'saved', 'cancelled', 'replaced')),
    step           INTEGER NOT NULL DEFAULT 0 CHECK (step BETWEEN 0 AND 5),
    version        INTEGER NOT NULL DEFAULT 0,  -- bumped on every press, and buttons carry it
    language       TEXT NOT NULL,           -- the wizard's wording until a language is chosen
    cadence        TEXT CHECK (cadence IN ('weekly', 'biweekly')),
    weekday        INTEGER CHECK (weekday BETWEEN 0 AND 6),
    at_time        TEXT,                    -- local wall-clock HH:MM
    timezone       TEXT,
    pulse_language TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX team_setup_wizards_chat ON team_setup_wizards(chat_id, status);
