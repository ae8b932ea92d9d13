"""Thin adapters between chat platforms and the channel-independent BotService."""
