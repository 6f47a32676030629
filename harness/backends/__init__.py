"""Built-in backends that are not prunebench's own reference (adapters to other implementations)."""
