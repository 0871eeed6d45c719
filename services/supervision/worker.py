"""Supervision's worker: the outbox relay and the claim auditor."""

from services.supervision.handlers import HANDLERS
from services.supervision.settings import Settings
from shared.worker import main

if __name__ == "__main__":
    main(Settings(), handlers=HANDLERS)
