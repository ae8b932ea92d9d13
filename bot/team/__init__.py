"""Team check-ins in group chats: the anonymous trust pulse and red/green governance rounds."""
