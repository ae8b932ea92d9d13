"""Scheduling of follow-ups and weekly nudges (APScheduler; SQLite is the source of truth)."""
