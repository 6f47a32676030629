"""The package's version, as a module."""

VERSION = "1.2.3"
