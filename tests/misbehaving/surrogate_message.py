"""``step()`` raises with a message that UTF-8 cannot encode: a lone surrogate, as from an undecodable file name."""

from __future__ import annotations

from prunebench import reference_impl

from ._reference import *  # noqa: F403

name = "surrogate-message"
UNDECODABLE = b"masks-\xff.pt".decode("utf-8", "surrogateescape")


class BaseSparsifier(reference_impl.BaseSparsifier):
    def step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError(f"cannot read cached masks from {UNDECODABLE}")
