"""The gateway has no background work: no outbox, no consumers. Kept so every service looks alike."""

import sys

if __name__ == "__main__":
    sys.exit("the gateway has no worker; run `uvicorn services.gateway.main:app`")
