"""Yibao platform kit: what every service shares (settings, database, events, errors, auth, telemetry)."""
