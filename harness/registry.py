"""Registry: a name -> object table whose unknown-name error lists the valid names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from harness.errors import UnknownNameError

T = TypeVar("T")
_MISSING = object()  # lets None itself be registered (a norm "none" is the factory None)


class Registry(Generic[T]):
    """Name -> object table for one kind of thing (block, norm, activation, dataset)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | object = _MISSING) -> Callable[[T], T] | T:
        """Register `obj` (which may be None) under `name`; without `obj`, return a decorator that does."""
        if obj is not _MISSING:
            self._add(name, obj)  # type: ignore[arg-type]
            return obj  # type: ignore[return-value]

        def decorator(item: T) -> T:
            self._add(name, item)
            return item

        return decorator

    def _add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = obj

    def get(self, name: str) -> T:
        """The object registered as `name`; an unknown name raises UnknownNameError listing the valid ones."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}"
            ) from None

    def unregister(self, name: str) -> T:
        """Remove `name` (a plug-in or a test's block) and return what was registered there."""
        self.get(name)  # an unknown name raises, listing the valid ones
        return self._items.pop(name)

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
