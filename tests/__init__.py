"""The harness's own tests: it passes correct backends and catches broken ones."""
