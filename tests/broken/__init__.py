"""Deliberately broken sparsifier backends, one realistic bug each, that the conformance suites must catch."""
