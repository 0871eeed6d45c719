"""The gateway consumes no events."""

from __future__ import annotations

from shared.events.consumer import Handler

HANDLERS: dict[str, Handler] = {}
