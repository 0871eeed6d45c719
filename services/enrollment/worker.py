"""Enrollment's worker: the outbox relay."""

from services.enrollment.handlers import HANDLERS
from services.enrollment.settings import Settings
from shared.worker import main

if __name__ == "__main__":
    main(Settings(), handlers=HANDLERS)
