-- Telegram gives a group a new chat id when it becomes a supergroup. The team's rows follow it
-- (bot/store/team.py move_group); this remembers old -> new so that work already under way with
-- the old id (a result being posted, a press on a button in the old chat) finds the team.
-- Group chat ids only (negative on Telegram): nothing here is about a person.
CREATE TABLE team_chat_moves (
    old_chat_id TEXT PRIMARY KEY,
    new_chat_id TEXT NOT NULL,
    moved_at    TEXT NOT NULL
);
