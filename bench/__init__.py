"""Benchmarks (not tests: pytest never collects them). Run one with ``python -m bench.<name> --help``."""
