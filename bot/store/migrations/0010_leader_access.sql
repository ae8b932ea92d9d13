-- How each leader was let in, so access follows the operator's current decision (issue 4, an
-- organisation's access control): NULL = by ALLOWED_USER_IDS or open mode, and kept only while
-- that still lets them in (checked at every start); 'invite' = with an invite code; 'granted' =
-- let in by the operator (`tillidsbot access grant`); 'revoked' = shut out by the operator or
-- because the list no longer names them. A refused leader's data stays until it is exported,
-- forgotten or expires; the bot sends them nothing.
ALTER TABLE leaders ADD COLUMN admitted_via TEXT
    CHECK (admitted_via IS NULL OR admitted_via IN ('invite', 'granted', 'revoked'));
-- Leaders from before this column keep the access they had: nobody is shut out by an upgrade.
UPDATE leaders SET admitted_via = 'granted';
