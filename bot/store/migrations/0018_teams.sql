-- Microsoft Teams (bot/channels/teams.py): each Teams leader's conversation reference, so the
-- bot can write to them first (nudges, follow-ups) after a restart, and the activities already
-- handled (Teams redelivers, so a repeated activity is a no-op). The reference is the SDK's
-- ConversationReference as JSON, opaque to everything but the Teams channel.
CREATE TABLE teams_conversations (
    leader_id        TEXT PRIMARY KEY REFERENCES leaders(leader_id) ON DELETE CASCADE,
    conversation_id  TEXT NOT NULL UNIQUE,
    reference        TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

-- key: SHA-256 of the conversation id and the activity id, so no id is kept in clear here.
CREATE TABLE teams_activities (
    key      TEXT PRIMARY KEY,
    status   TEXT NOT NULL CHECK (status IN ('processing', 'done')),
    seen_at  TEXT NOT NULL               -- UTC ISO 8601, pruned after two days
);
CREATE INDEX teams_activities_seen ON teams_activities(seen_at);
