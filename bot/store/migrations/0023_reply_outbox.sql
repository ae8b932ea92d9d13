-- A transactional outbox for replies (issue 17): the messages one step of the inbound pipeline
-- answers with are written in the same transaction as the step's new state, sent after the
-- commit and then marked delivered with the platform's message ids. A crash between the
-- commit and the send leaves them 'pending': they are delivered at start-up, or before the
-- leader's next event, in the order written (rowid), once. `message` is the serialised
-- OutMessage (stamped buttons included), sealed under the leader's key like any free text,
-- and cleared once the message is out: only the bookkeeping stays, pruned after two days.
-- `question` marks a message that asks a question of a conversation: text typed before such
-- a message was shown to the leader is not taken as its answer (bot/inbound.py).
CREATE TABLE reply_outbox (
    channel        TEXT NOT NULL,              -- 'telegram', 'console', 'teams'
    leader_id      TEXT NOT NULL REFERENCES leaders(leader_id) ON DELETE CASCADE,
    event_id       TEXT NOT NULL,              -- the inbound event the step answered
    seq            INTEGER NOT NULL,           -- the message's place in that reply
    message        BLOB,                       -- sealed OutMessage JSON; NULL once sent
    question       INTEGER NOT NULL DEFAULT 0, -- 1: a conversation's question
    status         TEXT NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'delivered', 'redelivered', 'given_up')),
    attempts       INTEGER NOT NULL DEFAULT 0, -- sends that failed (given up after 3)
    created_at     TEXT NOT NULL,              -- UTC ISO 8601: the step's commit
    attempted_at   TEXT,                       -- the last failed send
    delivered_at   TEXT,                       -- when it went out ('redelivered': late)
    platform_ids   TEXT,                       -- JSON list of the platform's message ids
    PRIMARY KEY (channel, leader_id, event_id, seq)
);
-- The per-step look-up: a leader's pending and late-delivered messages only.
CREATE INDEX reply_outbox_open ON reply_outbox(channel, leader_id, status);
CREATE INDEX reply_outbox_created ON reply_outbox(created_at);
