"""prunebench's conformance suites: one module per part of the ``torch.ao.pruning`` contract."""
