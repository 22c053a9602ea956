"""One module per honest-measurement check. Each has a cheating fixture under
tests/fixtures/kernel/ that it must catch, and honest fixtures it must pass."""
