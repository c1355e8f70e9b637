"""One small generic registry for every plug-in family (losses, variants, architectures, datasets, metrics...).

Duplicate names are errors; an unknown name answers with the allowed names and a "did you mean" hint.
"""
from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class GanbenchError(Exception):
    """A user mistake (bad suite, unknown name, missing file): printed as one line, never a traceback."""


class UnknownNameError(GanbenchError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str = "") -> Callable[[T], T]:
        def deco(obj: T) -> T:
            self.add(name, obj, help=help)
            return obj

        return deco

    def add(self, name: str, obj: T, help: str = "") -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = obj
        if not help:
            doc = getattr(obj, "__doc__", None) or ""
            help = doc.strip().splitlines()[0] if doc.strip() else ""
        self._help[name] = help

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        msg = f"unknown {self.kind} {name!r}"
        close = difflib.get_close_matches(str(name), list(self._items), n=1)
        if close:
            msg += f" (did you mean {close[0]!r}?)"
        return msg + f"; allowed: {', '.join(sorted(self._items))}"

    def help(self, name: str) -> str:
        return self._help.get(name, "")

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
