"""A suite's study design: the confirmation phase (``confirm:``) and how results will be judged (``analysis:``)."""
from __future__ import annotations

import json
import math
from typing import Any, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from ganbench.suite.base import BUDGET_UNITS, Strict
from ganbench.suite.file import shown


class ConfirmSpec(Strict):
    """Phase 2 of a study (Lucic et al.: a search, then the chosen configuration rerun on many seeds): per dataset x
    GAN entry x architecture, once its search is finished, the configuration with the best mean validation score is
    retrained on the seeds ``seed_offset, seed_offset + 1, ...`` (disjoint from the search's ``seeds``).
    ``seeds: N`` trains N of them; ``seeds: adaptive`` adds ``step`` seeds per round until every pair of the cell's
    comparison family is decided by the sequential rule, or ``max_seeds`` is reached."""

    seeds: Union[int, Literal["adaptive"]]
    max_seeds: Optional[int] = Field(None, ge=2)  # adaptive only: the most seeds a cell gets
    step: int = Field(5, ge=2)  # adaptive only: seeds added per round (and seen at the first look)
    seed_offset: int = Field(1000, ge=0)  # the first confirmation seed

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, value):
        if isinstance(value, bool) or not (value == "adaptive" or (isinstance(value, int) and value >= 1)):
            raise ValueError("allowed: a number of seeds >= 1, or adaptive")
        return value

    @model_validator(mode="after")
    def _adaptive_fields(self):
        if self.seeds == "adaptive" and self.max_seeds is None:
            raise ValueError("seeds: adaptive needs max_seeds (the most seeds a cell may take)")
        if self.seeds != "adaptive" and self.max_seeds is not None:
            raise ValueError("max_seeds applies to seeds: adaptive; with a fixed count give seeds only")
        if self.seeds == "adaptive" and self.max_seeds < self.step:
            raise ValueError(f"max_seeds {self.max_seeds} is below step {self.step}: the first round takes step seeds")
        return self

    @property
    def adaptive(self) -> bool:
        return self.seeds == "adaptive"

    def seed_list(self, count: Optional[int] = None) -> list[int]:
        """The first ``count`` confirmation seeds (default: all a fixed design asks for, or max_seeds)."""
        n = count if count is not None else (self.max_seeds if self.adaptive else self.seeds)
        return list(range(self.seed_offset, self.seed_offset + n))


class AnalysisSpec(Strict):
    """How the results will be judged, declared before the run: equivalence margins per dataset (in the primary
    metric's units), an assumed seed spread per dataset (for ``validate``'s power line when no results exist yet),
    the level alpha, and the budget milestones at which the best-so-far generator (chosen on validation) is scored
    on test: fractions of the budget in (0, 1], or values in any budget unit (``{g_steps: 500}``)."""

    margin: dict[str, float] = Field(default_factory=dict)
    seed_sd: dict[str, float] = Field(default_factory=dict)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    milestones: list[Any] = Field(default_factory=list)

    @field_validator("margin", "seed_sd")
    @classmethod
    def _positive(cls, value: dict):
        for dataset, v in value.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v > 0 and math.isfinite(v)):
                raise ValueError(f"key {dataset!r}: expected a positive number (metric units), got {v!r}")
        return value

    @field_validator("milestones")
    @classmethod
    def _milestones(cls, value: list):
        for i, m in enumerate(value):
            milestone_of(m, f"milestones[{i}]")
        if len({json.dumps(m, sort_keys=True) for m in value}) != len(value):
            raise ValueError("duplicate milestones")
        return value


def milestone_of(item: Any, where: str = "milestone") -> tuple[Optional[str], float]:
    """(unit, value) of one milestone: (None, fraction) for a bare number in (0, 1], (unit, value) for a one-key
    mapping ``{unit: value}``; ValueError naming what is allowed otherwise."""
    allowed = f"allowed: a fraction of the budget in (0, 1], or {{unit: value}} with unit one of {', '.join(BUDGET_UNITS)}"
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        if 0 < item <= 1:
            return None, float(item)
        raise ValueError(f"{where}: {item!r} is not a fraction of the budget; {allowed}")
    if isinstance(item, dict) and len(item) == 1:
        (unit, value), = item.items()
        if unit in BUDGET_UNITS and isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return unit, float(value)
    raise ValueError(f"{where}: {shown(item)} is not a milestone; {allowed}")
