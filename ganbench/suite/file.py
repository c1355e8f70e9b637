"""Reading a suite file without trusting it: safe YAML (duplicate keys, alias bombs and deep nesting refused),
command-line overrides (``--set``) checked against the suite's schema and blamed on the command line, and pydantic
errors turned into one line that names the field path and the allowed values.

The models themselves live in :mod:`ganbench.suite.schema`; this module takes them as arguments, so it imports none.
"""
from __future__ import annotations

import re
import reprlib
import typing
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import BaseModel, ValidationError

from ganbench.registry import GanbenchError, suggest, unknown_name

MAX_SUITE_BYTES = 4 * 1024 * 1024  # a large real suite is a few kB
MAX_YAML_VALUES = 100_000  # values of the document with every alias expanded; a real suite has a few hundred
MAX_YAML_DEPTH = 32  # a suite nests 5 levels deep

_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = 40
_SHOW.maxlevel, _SHOW.maxlist, _SHOW.maxtuple, _SHOW.maxdict, _SHOW.maxset = 2, 4, 4, 4, 4


def shown(value: Any) -> str:
    """A short repr, linear in the size shown (a value may be an alias bomb: never repr it whole)."""
    return _SHOW.repr(value)


class SuiteLoader(yaml.SafeLoader):
    """Safe YAML loader that reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``) and refuses duplicate keys."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *base' overrides on purpose
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) or key is None:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {shown(key)}; YAML would silently keep the last one",
                            key_node.start_mark)
                    seen.add(key)
        return super().construct_mapping(node, deep)


SuiteLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$"
               r"|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."))


def _yaml_problem(err: yaml.YAMLError) -> tuple[str, str]:
    mark = getattr(err, "problem_mark", None)
    where = f" line {mark.line + 1}:" if mark is not None else ""
    problem = str(getattr(err, "problem", None) or err).splitlines()[0]
    return where, problem


def _check_size(node: yaml.Node, source: str) -> None:
    """Count the values of the document as if every alias were expanded, in time linear in the document (each node
    once): refuses the "billion laughs" before anything walks the expanded tree."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(node, 0, False)]
    open_nodes: set[int] = set()
    while stack:
        n, depth, done = stack.pop()
        if id(n) in sizes:
            continue
        if depth > MAX_YAML_DEPTH:
            raise GanbenchError(f"{source}: nested more than {MAX_YAML_DEPTH} levels deep; a suite file needs about 5")
        children = ([c for kv in n.value for c in kv] if isinstance(n, yaml.MappingNode)
                    else list(n.value) if isinstance(n, yaml.SequenceNode) else [])
        if done:
            open_nodes.discard(id(n))
            sizes[id(n)] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[id(n)] > MAX_YAML_VALUES:
                raise GanbenchError(f"{source}: its YAML aliases expand to more than {MAX_YAML_VALUES:,} values "
                                    f"(an alias bomb?); a suite file has a few hundred")
            continue
        if id(n) in open_nodes:
            raise GanbenchError(f"{source}: a YAML alias refers to itself (line {n.start_mark.line + 1}); "
                                f"a suite file is a tree")
        open_nodes.add(id(n))
        stack.append((n, depth, True))
        for c in children:
            if id(c) in open_nodes:
                raise GanbenchError(f"{source}: a YAML alias refers to itself (line {c.start_mark.line + 1}); "
                                    f"a suite file is a tree")
            stack.append((c, depth + 1, False))


def read_yaml(path: Path) -> Any:
    """The document of a suite file, safe-loaded, or GanbenchError with one line."""
    if not path.exists():
        raise GanbenchError(f"{path}: no such suite file")
    if not path.is_file():
        raise GanbenchError(f"{path}: not a file; give a suite YAML file")
    if path.stat().st_size > MAX_SUITE_BYTES:
        raise GanbenchError(f"{path}: {path.stat().st_size:,} bytes is not a suite file (at most "
                            f"{MAX_SUITE_BYTES:,})")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GanbenchError(f"{path}: not a text file (not UTF-8); a suite file is YAML") from None
    except OSError as err:
        raise GanbenchError(f"{path}: cannot read it ({err.strerror})") from None
    loader = None
    try:
        loader = SuiteLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, str(path))
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        where, problem = _yaml_problem(err)
        raise GanbenchError(f"{path}:{where} not valid YAML ({problem})") from None
    except RecursionError:
        raise GanbenchError(f"{path}: nested too deeply to read; a suite file needs about 5 levels") from None
    finally:
        if loader is not None:
            loader.dispose()


# ---------------------------------------------------------------------------------------------- error messages
def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _model_in(annotation: Any) -> Optional[type]:
    """The model class of a field (``X``, ``Optional[X]``, ``list[X]``), else None."""
    if _is_model(annotation):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _is_a(annotation: Any, origin: type) -> bool:
    """Whether a field's type is (an Optional of) ``origin``, e.g. list or dict."""
    if annotation is origin or typing.get_origin(annotation) is origin:
        return True
    return typing.get_origin(annotation) is typing.Union and any(_is_a(a, origin) for a in typing.get_args(annotation))


def fields_at(root: type, loc: tuple) -> list[str]:
    """The field names of the model found at ``loc`` (a pydantic location) under ``root``."""
    current: Optional[type] = root
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(str(part))
        current = _model_in(field.annotation) if field is not None else None
    return list(current.model_fields) if current is not None else []


def field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def describe(error: dict, root: type) -> str:
    """One pydantic error as ``field.path: problem``."""
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        parent, path = loc[:-1], field_path(loc[:-1])
        msg = unknown_name("field", loc[-1], fields_at(root, parent))
        return f"{path}: {msg}" if path else msg
    msg = error["msg"].removeprefix("Value error, ")
    if "[key]" in loc:
        i = loc.index("[key]")
        return f"{field_path(loc[:i - 1])}: key {shown(loc[i - 1])}: {msg}"
    if error["type"] == "missing":
        msg = "required field is missing"
    elif "input" in error and not isinstance(error["input"], dict):  # a dict is the whole section: not shown
        msg += f" (got {shown(error['input'])})"
    path = field_path(loc)
    return f"{path}: {msg}" if path else msg


def validation_message(source: str, err: ValidationError, root: type, blame: Optional[dict] = None) -> str:
    """One line for a ValidationError: unknown fields first (a misspelt required field is reported as the misspelling,
    not as a missing field), blamed on the ``--set`` that put the value there if one did."""
    errors = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    rest = errors[1:]
    if first["type"] == "extra_forbidden":
        loc = tuple(first["loc"])
        meant = suggest(loc[-1], fields_at(root, loc[:-1]))
        rest = [e for e in rest if not (e["type"] == "missing" and tuple(e["loc"]) == (*loc[:-1], meant))]
    more = f" (and {len(rest)} more)" if rest else ""
    return f"{label_for(field_path(tuple(first['loc'])), source, blame)}: {describe(first, root)}{more}"


def label_for(path: str, source: str, blame: Optional[dict]) -> str:
    """``--set ITEM`` when that override set ``path`` (or a section of it, or a field inside it), else ``source``."""
    for set_path, item in (blame or {}).items():
        if path == set_path or path.startswith((set_path + ".", set_path + "[")) or set_path.startswith(path + "."):
            return f"--set {item}"
    return source


# ---------------------------------------------------------------------------------------------- --set overrides
def parse_override(item: str) -> tuple[list[str], Any]:
    """``KEY=VALUE`` -> (key parts, value parsed as YAML)."""
    if "=" not in item:
        raise GanbenchError(f"--set {item}: expected KEY=VALUE, e.g. lr=1e-4 or budget.d_steps=200")
    key, text = item.split("=", 1)
    parts = [p.strip() for p in key.split(".")]
    if not all(parts):
        raise GanbenchError(f"--set {item}: expected KEY=VALUE, e.g. lr=1e-4 or budget.d_steps=200")
    try:
        value = yaml.load(text, Loader=SuiteLoader) if text.strip() else None
    except yaml.YAMLError as err:
        raise GanbenchError(f"--set {item}: the value is not valid YAML ({_yaml_problem(err)[1]}); quote "
                            f"the whole item, e.g. --set 'hparams.batch_size=[32, 64]'") from None
    return parts, value


def apply_override(raw: dict, item: str, root: type, hparams: type) -> str:
    """Apply one ``--set`` to the raw suite mapping, checking every key against the schema (``root`` the suite
    model, ``hparams`` the model whose fields a ``hparams`` block holds). Returns the dotted path it set."""
    parts, value = parse_override(item)
    where = f"--set {item}"
    if len(parts) == 1 and parts[0] not in root.model_fields:
        if parts[0] not in hparams.model_fields:
            allowed = [*hparams.model_fields, *root.model_fields]
            raise GanbenchError(f"{where}: {unknown_name('hyperparameter or suite field', parts[0], allowed)}")
        parts = ["hparams", parts[0]]
    schema: Any = root
    node = raw
    for depth, part in enumerate(parts):
        section = ".".join(parts[:depth]) or "the suite"
        if schema == "hparams":
            if part not in hparams.model_fields:
                raise GanbenchError(f"{where}: {section}: {unknown_name('hyperparameter', part, hparams.model_fields)}")
            schema = "leaf"
        elif _is_model(schema):
            if part not in schema.model_fields:
                raise GanbenchError(f"{where}: {section}: {unknown_name('field', part, schema.model_fields)}")
            annotation = schema.model_fields[part].annotation
            schema = ("hparams" if part == "hparams" else "list" if _is_a(annotation, list)
                      else "mapping" if _is_a(annotation, dict) else _model_in(annotation) or "leaf")
        elif schema in ("list", "leaf"):
            kind = "a list: set it whole, e.g. --set 'gans=[ns, wgan-gp]'" if schema == "list" else "not a section"
            raise GanbenchError(f"{where}: {section} is {kind}")
        if depth < len(parts) - 1:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, (dict, list)):
                raise GanbenchError(f"{where}: {'.'.join(parts[:depth + 1])} is {shown(child)} in the suite file, "
                                    f"not a section")
            node = child
    if not isinstance(node, dict):
        raise GanbenchError(f"{where}: {'.'.join(parts[:-1])} is a list: set it whole")
    node[parts[-1]] = value
    return ".".join(parts)
