"""Tillidsbot: a reflection assistant for leaders who lead with trust."""
