-- One table of handled inbound events for every channel (issue 12), replacing telegram_updates:
-- a repeated (channel, event_id) is a no-op. Telegram's event id is '<bot id>:<update id>'
-- (update ids count per bot). The rows Telegram left are kept, so an update redelivered
-- across the upgrade is still recognised. No column holds who sent the event.
CREATE TABLE inbound_events (
    channel    TEXT NOT NULL,              -- 'telegram', 'console', 'teams'
    event_id   TEXT NOT NULL,              -- the platform's id of the event, unique per channel
    status     TEXT NOT NULL CHECK (status IN ('processing', 'done')),
    seen_at    TEXT NOT NULL,              -- UTC ISO 8601, pruned after two days
    PRIMARY KEY (channel, event_id)
) WITHOUT ROWID;
CREATE INDEX inbound_events_seen ON inbound_events(seen_at);
INSERT INTO inbound_events (channel, event_id, status, seen_at)
    SELECT 'telegram', bot_id || ':' || update_id, status, seen_at FROM telegram_updates;
DROP TABLE telegram_updates;
