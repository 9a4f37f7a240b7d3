"""Benchmarks that print a report (JSON and a table); speed is never asserted in tests."""
