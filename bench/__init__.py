"""Benchmarks: `python -m bench [name ...]` (or `make bench`); figures in var/bench/<name>.json."""
