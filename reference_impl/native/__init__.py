"""The reference's compiled kernels: optional fast twins of readable code, the oracle they are tested against.

Each kernel is one C++ file with a C ABI beside its Python glue, built on first use and cached (``build``). When
it cannot be built (no compiler, an error, a timeout) or does not apply to an input, the readable version runs,
with one warning per process for a failed build; ``PRUNEBENCH_NATIVE=0`` runs the readable versions only.
"""
