"""Enrollment consumes no events yet; it is the source of person and enrollment facts."""

from __future__ import annotations

from shared.events.consumer import Handler

HANDLERS: dict[str, Handler] = {}
