"""One small generic registry for every plug-in family (losses, variants, architectures, datasets, metrics...).

Duplicate names are errors; an unknown name answers with the allowed names and a "did you mean" hint, written by
:func:`unknown_name`, the one wording of "unknown X" used everywhere (suite fields, hyperparameters, options, names).
"""
from __future__ import annotations

import contextlib
import difflib
import re
from typing import Callable, Generic, Iterable, Iterator, Mapping, Optional, TypeVar

T = TypeVar("T")


class GanbenchError(Exception):
    """A user mistake (bad suite, unknown name, missing file): printed as one line, never a traceback."""


class UnknownNameError(GanbenchError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


# Names users know from papers and other code bases, per registry kind: suggested, never accepted silently (a
# trial's identity uses the registered name). Keys are compared after `_normal` (case, '-', '_', ' ' ignored).
FAMILIAR_NAMES: dict[str, dict[str, str]] = {
    "GAN variant": {"lsgan": "ls", "nsgan": "ns", "nonsaturating": "ns", "mmgan": "mm", "minimax": "mm",
                    "wgangp": "wgan-gp", "hingegan": "hinge", "r1gan": "r1", "draganpenalty": "dragan",
                    "rsgan": "rpgan", "relativistic": "rpgan", "rahingegan": "rahinge",
                    "lecam": "hinge-lecam", "r3": "r3gan"},
    "loss": {"lsgan": "ls", "nsgan": "ns", "nonsaturating": "ns", "mmgan": "mm", "minimax": "mm",
             "wasserstein": "wgan", "wgangp": "wgan", "rsgan": "rpgan", "relativistic": "rpgan",
             "rahingegan": "rahinge"},
    "penalty": {"gradientpenalty": "gp", "wgangp": "gp", "wgan-gp": "gp", "r1penalty": "r1", "r2penalty": "r2",
                "lecamreg": "lecam", "lecamregularization": "lecam"},
    "architecture": {"dcgan64": "dcgan", "dcgan32": "dcgan", "sngan": "sndcgan", "resnet19": "resnet",
                     "resnetcifar": "resnet", "fc": "mlp", "fullyconnected": "mlp"},
    "dataset": {"cifar": "cifar10", "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist",
                "sklearndigits": "digits", "folder": "imagefolder", "images": "imagefolder"},
    "metric": {"precision": "pr", "recall": "pr", "prd": "pr", "density": "dc", "coverage": "dc", "fid10k": "fid",
               "fid50k": "fid", "fid5k": "fid", "kid10k": "kid", "inceptionscore": "is", "modescaptured": "modes",
               "hq": "modes", "reversekl": "modes"},
    "extractor": {"inceptionv3": "inception", "inception3": "inception", "clf": "classifier", "cnn": "classifier"},
}


def _normal(name: object) -> str:
    return re.sub(r"[-_\s.]", "", str(name).lower())


def suggest(name: object, allowed: Iterable[str], familiar: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The allowed name a user most likely meant: a familiar name's registered one, the same name up to case and
    separators, or the closest spelling (difflib); None when nothing is close."""
    allowed = [str(a) for a in allowed]
    key = _normal(name)
    for alias, target in (familiar or {}).items():
        if _normal(alias) == key and target in allowed:
            return target
    for a in allowed:
        if _normal(a) == key:
            return a
    close = difflib.get_close_matches(str(name), allowed, n=1) or \
        difflib.get_close_matches(str(name).lower(), allowed, n=1)
    return close[0] if close else None


def unknown_name(what: str, name: object, allowed: Iterable[str],
                 familiar: Optional[Mapping[str, str]] = None) -> str:
    """``unknown <what> 'name' (did you mean 'x'?); allowed: a, b, c``: the wording of every unknown-key message.
    The caller prefixes where it was found (file and field path, or the command-line flag)."""
    allowed = [str(a) for a in allowed]
    shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
    close = suggest(name, allowed, familiar)
    hint = f" (did you mean {close!r}?)" if close is not None and close != name else ""
    return f"unknown {what} {shown}{hint}; allowed: {', '.join(allowed) or 'none'}"


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
        return unknown_name(self.kind, name, self.names(), FAMILIAR_NAMES.get(self.kind))

    @contextlib.contextmanager
    def temporarily(self, name: str, obj: T, help: str = ""):
        """Register ``obj`` as ``name`` inside the block only (tests' plug-ins): removed again on the way out."""
        self.add(name, obj, help=help)
        try:
            yield obj
        finally:
            self._items.pop(name, None)
            self._help.pop(name, None)

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
