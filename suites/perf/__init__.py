"""Performance suites: serial pytest-benchmark runs of every operation, for every backend selected."""
