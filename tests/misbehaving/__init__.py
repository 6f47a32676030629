"""Backends that misbehave by accident, one per row of issue #21's table (README, "Misbehaving backends").

Each is the reference with one realistic accident added; ``tests/test_verdicts.py`` runs them as a user
would (``prunebench run`` / ``check`` in a subprocess) and checks the harness's outcome for each.
"""
