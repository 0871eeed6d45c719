"""Events: CloudEvents envelope, typed contracts, outbox, relay, inbox and the consumer runner."""
