"""The generic checks: what every ``BaseSparsifier`` / ``BaseStructuredSparsifier`` subclass owes, whatever its rule.

Each check is a plain function of ``(subject, device, dtype)`` that raises ``AssertionError`` with a
message naming what it found, or ``UnsupportedError`` when it cannot apply to the subject. One list
(``registry.checks_for``) feeds the ``contract`` suite, ``prunebench check`` and ``parametrize_with_checks``.
"""
