"""Search-space expressions of suite files: ``loguniform(1e-5, 1e-2)``, ``uniform(0, 1)``, ``choice([1, 5])``,
``randint(1, 6)``.  A YAML list is a grid.  Expressions are parsed with :mod:`ast` and a whitelist, never ``eval``ed.
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ganbench.registry import GanbenchError

MAX_EXPRESSION_CHARS = 2000  # a choice of a few dozen literals; longer is a grid (a YAML list) or a mistake
_CALL = re.compile(r"^\s*[A-Za-z_]\w*\s*\(.*\)\s*$", re.S)


@dataclass(frozen=True)
class Distribution:
    kind: str  # uniform | loguniform | choice | randint
    args: tuple

    def sample(self, rng: np.random.Generator) -> Any:
        if self.kind == "uniform":
            lo, hi = self.args
            return float(rng.uniform(lo, hi))
        if self.kind == "loguniform":  # 10^U[log10 lo, log10 hi], as the Lucic et al. "log" ranges
            lo, hi = self.args
            return float(10.0 ** rng.uniform(math.log10(lo), math.log10(hi)))
        if self.kind == "randint":  # inclusive low, exclusive high, like numpy and Ray Tune
            lo, hi = self.args
            return int(rng.integers(lo, hi))
        options = self.args[0]
        return options[int(rng.integers(len(options)))]

    def __str__(self) -> str:
        inner = ", ".join(repr(list(a)) if isinstance(a, tuple) else repr(a) for a in self.args)
        return f"{self.kind}({inner})"


def _number(node: ast.AST, where: str) -> float:
    try:
        value = ast.literal_eval(node)  # constants and unary minus only; no names, no calls
    except (ValueError, SyntaxError):
        raise GanbenchError(f"{where}: expected a number, got {ast.unparse(node)!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GanbenchError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value) or abs(value) > 1e300:
        raise GanbenchError(f"{where}: expected a finite number, got {value!r}")
    return value


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def looks_like_expression(value: Any) -> bool:
    return isinstance(value, str) and bool(_CALL.match(value))


def parse_expression(text: str, where: str = "search space") -> Distribution:
    """Parse one distribution expression; ``where`` names the field in error messages."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise GanbenchError(f"{where}: an expression of {len(text)} characters (at most {MAX_EXPRESSION_CHARS}); "
                            f"expected e.g. loguniform(1e-5, 1e-2), or a YAML list for a grid")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise GanbenchError(f"{where}: cannot parse {_short(text)}; expected e.g. loguniform(1e-5, 1e-2)") from None
    call = tree.body
    allowed = "uniform(lo, hi), loguniform(lo, hi), randint(lo, hi), choice([a, b, ...])"
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.keywords:
        raise GanbenchError(f"{where}: {_short(text)} is not a distribution; allowed: {allowed}")
    name, args = call.func.id, call.args
    if name in ("uniform", "loguniform", "randint"):
        if len(args) != 2:
            raise GanbenchError(f"{where}: {name} takes two numbers (lo, hi), got {len(args)}")
        lo, hi = (_number(a, where) for a in args)
        if not lo < hi:
            raise GanbenchError(f"{where}: {name}({lo}, {hi}) needs lo < hi")
        if name == "loguniform" and lo <= 0:
            raise GanbenchError(f"{where}: loguniform needs lo > 0, got {lo}")
        if not math.isfinite(hi - lo):
            raise GanbenchError(f"{where}: {name}({lo}, {hi}) spans more than a float can hold")
        if name == "randint":
            if int(lo) != lo or int(hi) != hi:
                raise GanbenchError(f"{where}: randint takes integers, got ({lo}, {hi})")
            lo, hi = int(lo), int(hi)
            if not -2**63 <= lo < hi <= 2**63 - 1:
                raise GanbenchError(f"{where}: randint({lo}, {hi}) leaves the 64-bit integers")
        return Distribution(name, (lo, hi))
    if name == "choice":
        if len(args) != 1 or not isinstance(args[0], (ast.List, ast.Tuple)):
            raise GanbenchError(f"{where}: choice takes one list, e.g. choice([1, 5])")
        try:
            options = ast.literal_eval(args[0])
        except (ValueError, SyntaxError):
            raise GanbenchError(f"{where}: choice options must be literals, got {ast.unparse(args[0])!r}") from None
        if not options:
            raise GanbenchError(f"{where}: choice needs at least one option")
        return Distribution("choice", (tuple(options),))
    raise GanbenchError(f"{where}: unknown distribution {name!r}; allowed: {allowed}")
