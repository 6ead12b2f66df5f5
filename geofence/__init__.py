"""Malls, levels and zones; matching pings against zones; presence (enter, dwell, exit)."""
