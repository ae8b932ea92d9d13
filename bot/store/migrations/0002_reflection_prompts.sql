-- Which weekly reflection prompt each leader was shown, in order: the rotation is derived from
-- this, so no prompt comes round again before the leader has had all of them.
CREATE TABLE reflection_prompts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    leader_id    TEXT NOT NULL REFERENCES leaders(leader_id) ON DELETE CASCADE,
    prompt_id    TEXT NOT NULL,
    shown_at     TEXT NOT NULL
);
CREATE INDEX reflection_prompts_leader ON reflection_prompts(leader_id, id);
