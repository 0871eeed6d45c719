"""The local stack: PostgreSQL, Apache Kafka and every service on one machine (make run, tests)."""
