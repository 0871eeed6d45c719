"""Settlement's worker: the outbox relay and the eligibility consumer."""

from services.settlement.handlers import HANDLERS
from services.settlement.settings import Settings
from shared.worker import main

if __name__ == "__main__":
    main(Settings(), handlers=HANDLERS)
