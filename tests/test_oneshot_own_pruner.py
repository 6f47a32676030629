"""README's one-shot example, run as written: a user's own pruner wrapped for the one-shot suite.

``examples/own_pruners``' ``MagnitudeSparsifier`` (unstructured only, ``sparsity_level`` its one argument)
becomes a one-shot pruner with ``pruner_of_class`` in a backend module of the user's own; the one-shot
suite then passes it on the unstructured cases and reports the 2:4 ones unsupported with its reason.
"""

from __future__ import annotations

from .conftest import SUITES, run_suites

OWN_BACKEND = """
from own_pruners import MagnitudeSparsifier

from prunebench import Unsupported, pruner_of_class


def unstructured_only(pattern):
    if pattern.m is not None:
        raise Unsupported(f"MagnitudeSparsifier prunes unstructured only, not {pattern.label}")
    return {"sparsity_level": pattern.sparsity_level}


name = "my_oneshot"
oneshot_pruners = [pruner_of_class(MagnitudeSparsifier, arguments=unstructured_only)]
"""


def test_own_pruner_is_validated_by_the_oneshot_suite(pytester):
    pytester.makepyfile(my_oneshot=OWN_BACKEND)
    pytester.syspathinsert()
    result = run_suites(pytester, str(SUITES / "test_oneshot.py"), "--backend=my_oneshot", "-k=stack", "-rs")
    output = result.stdout.str()
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and outcomes.get("passed", 0) > 0, output
    assert "MagnitudeSparsifier prunes unstructured only, not 2:4" in output, output
