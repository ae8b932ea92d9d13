-- Button tokens (issue 17): every button the bot draws outside a conversation (onboarding, the
-- menu, settings, history, forget) carries the leader's current token; a press is taken only
-- when its token is the current one, and taking it draws a new token in the same transaction
-- as the press's effect. So a double tap, an older message's button or a forged one changes
-- nothing. Conversation buttons carry their step instead; snooze buttons their schedule row.
-- A random token, not a counter: another leader's button never matches by chance.
CREATE TABLE button_tokens (
    leader_id TEXT PRIMARY KEY REFERENCES leaders(leader_id) ON DELETE CASCADE,
    token     TEXT NOT NULL
) WITHOUT ROWID;
