-- The admin who opened a governance round is kept in team_gov_leaders only until the round's
-- result has gone to them (or was given up on): they need not be a leader of the bot, so
-- nothing else would ever erase it. Rows kept by earlier versions for rounds already told go.
DELETE FROM team_gov_leaders
 WHERE round_id IN (SELECT id FROM team_gov_rounds WHERE notified = 1);
