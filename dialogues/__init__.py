"""The conversation files, shipped as package data (see bot/content.py)."""
