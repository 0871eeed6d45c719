"""LTC's worker: the outbox relay and the person projection consumer."""

from services.ltc.handlers import HANDLERS
from services.ltc.settings import Settings
from shared.worker import main

if __name__ == "__main__":
    main(Settings(), handlers=HANDLERS)
