-- Team check-ins in Microsoft Teams groups (bot/team/teams.py). Teams does not tell a bot who
-- owns a chat or a team without Microsoft Graph, so the bot keeps the group's check-in admins
-- itself: the member who installed the app or first ran setup, and whoever an admin names.
-- Only keyed hashes are kept (HMAC with the deployment's team salt, scoped to the group), never
-- an AAD object id or a name. The group's conversation reference lets pulses be posted after a
-- restart; it names the conversation and the bot, not the member who happened to write.
CREATE TABLE team_admins (
    channel     TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    member_hash TEXT NOT NULL,              -- core.member_key(salt, 'admin:<chat>', member)
    added_at    TEXT NOT NULL,
    PRIMARY KEY (channel, chat_id, member_hash)
);

CREATE TABLE team_group_refs (
    channel    TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    reference  TEXT NOT NULL,               -- the channel's conversation reference, opaque
    updated_at TEXT NOT NULL,
    PRIMARY KEY (channel, chat_id)
);
