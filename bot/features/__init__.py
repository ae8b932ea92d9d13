"""Feature modules, each with a `register(...)` function wired in bot/app.py."""
