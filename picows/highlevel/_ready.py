# cython: annotation_typing=False
"""An already finished coroutine, returned by ``send()`` when the message went out at once.

``await ws.send(message)`` is on every sender's hot path.  A coroutine per call
costs an object, a frame and a resume even when there is nothing to wait for;
this object costs nothing: awaiting it finishes immediately.  It also passes
:func:`asyncio.iscoroutine`, so ``asyncio.create_task(ws.send(...))`` keeps working.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from types import TracebackType
from typing import Any, cast

__all__ = ["READY"]


class Ready:
    """A coroutine that has already returned ``None``; stateless, so one instance serves every call."""

    def __await__(self) -> Generator[Any, None, None]:
        return self  # an iterator is all await needs (no cast() call at run time)

    def __iter__(self) -> Ready:
        return self

    def __next__(self) -> Any:
        raise StopIteration

    def send(self, value: Any) -> Any:
        """Finish at once (the coroutine protocol's ``send``)."""
        raise StopIteration

    def throw(self, typ: Any, val: Any = None, tb: TracebackType | None = None) -> Any:
        """Raise the exception thrown in: there is no frame to catch it."""
        if val is None:
            val = typ() if isinstance(typ, type) else typ
        raise val

    def close(self) -> None:
        """Nothing to close."""


#: The one instance ``send()`` returns.
READY = cast("Coroutine[Any, Any, None]", Ready())
