"""The base of every suite model: unknown keys are errors, models are frozen, and a YAML boolean never passes for a
number; the budget's units."""
from __future__ import annotations

import typing

from pydantic import BaseModel, ConfigDict, field_validator

BUDGET_UNITS = ("d_steps", "g_steps", "images", "seconds", "flops")


def _numeric(annotation) -> bool:
    """int, float or Optional of them (the fields where pydantic would read true as 1)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return annotation in (int, float) or (typing.get_origin(annotation) is not list and bool(args)
                                          and all(a in (int, float) for a in args))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value, info):
        """YAML reads ``yes``/``true`` as booleans, which pydantic would take as 1: refuse them where no boolean is
        expected (also inside a list, e.g. ``seeds: [true]``)."""
        annotation = cls.model_fields[info.field_name].annotation
        if typing.get_origin(annotation) is list and isinstance(value, list):
            annotation, value_items = typing.get_args(annotation)[0], value
        else:
            value_items = [value]
        if _numeric(annotation) and any(isinstance(v, bool) for v in value_items):
            raise ValueError("a boolean is not a number")
        return value
