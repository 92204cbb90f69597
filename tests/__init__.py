"""tickwork's test suite."""
