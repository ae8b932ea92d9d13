"""The Jinja2 templates per language, shipped as package data (see bot/content.py)."""
