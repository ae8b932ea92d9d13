-- Who opened a governance round lives beside the round, not in it. Privacy discovery
-- (bot/store/privacy.py) treats a row holding the leader's chat as the leader's, and follows
-- foreign keys down from it: with the chat on the round itself, a leader's export or erasure
-- would have swept in the members' hashed votes and example counts under that round.
CREATE TABLE team_gov_leaders (
    round_id    INTEGER PRIMARY KEY REFERENCES team_gov_rounds(id) ON DELETE CASCADE,
    leader_chat TEXT NOT NULL               -- the admin who opened it gets the result there
);
INSERT INTO team_gov_leaders (round_id, leader_chat) SELECT id, leader_chat FROM team_gov_rounds;
ALTER TABLE team_gov_rounds DROP COLUMN leader_chat;
