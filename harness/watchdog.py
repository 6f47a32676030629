"""Process control of a conformance run: time limits and signals (loaded by ``harness.plugin``)."""
