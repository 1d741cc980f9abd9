"""How a server speculates, as one value: draft model or none, spec types, draft length, p-min, extra args.

A ``Speculation`` flows unchanged from the config (or ``server.py``'s flags) to the launcher, which
maps it onto the flags a build accepts (``llama_bin.FlagMap.speculation_args``), into each result
and its resume check, and into the report. A ``Setup`` is a Speculation with the label people
read. Adding an axis means adding a field here and its flags in ``llama_bin``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..core import limits
from ..core.redaction import redact

DRAFT_FAMILY = "draft"  # spec types "draft-*" all read the --spec-draft-* flags
DEFAULT_TYPES_WITH_DRAFT = ("draft-simple",)
NO_DRAFT_MODEL = "no draft model"

# Fields that can be an axis, with their short names in generated labels.
AXES = {"draft_max": "n_max", "draft_min": "n_min", "draft_p_min": "p_min"}


def axis_problem(name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid ``name`` (an AXES field), or None."""
    return limits.problem(name, value)


def parse_types(text: str) -> tuple[str, ...]:
    """'draft-simple, ngram-mod' -> ('draft-simple', 'ngram-mod'); empty parts dropped."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def type_family(spec_type: str) -> str:
    """The flag family of a type: 'draft' for every draft-* type, else the type itself ('ngram-mod')."""
    return DRAFT_FAMILY if spec_type.startswith(DRAFT_FAMILY + "-") else spec_type


@dataclass(frozen=True)
class Speculation:
    """One speculation setup. All None/empty is the baseline: no speculation."""

    draft_path: str | None = None
    spec_type: tuple[str, ...] = ()
    draft_max: int | None = None
    draft_min: int | None = None
    draft_p_min: float | None = None
    extra_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.draft_path and not self.spec_type:
            object.__setattr__(self, "spec_type", DEFAULT_TYPES_WITH_DRAFT)

    @property
    def is_baseline(self) -> bool:
        return not self.draft_path and not self.spec_type

    @property
    def needs_draft_model(self) -> bool:
        return any(type_family(t) == DRAFT_FAMILY for t in self.spec_type)

    def with_axes(self, values: dict[str, Any]) -> "Speculation":
        return replace(self, **values)

    def comparable(self) -> dict[str, Any]:
        """What changes the measured numbers (the model's path may move; its label names it)."""
        out = self.to_dict()
        out.pop("draft_path")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, secrets in ``extra_args`` redacted; ``spec_type`` as the flag spells it."""
        return {"draft_path": self.draft_path, "spec_type": ",".join(self.spec_type) or None,
                "draft_max": self.draft_max, "draft_min": self.draft_min, "draft_p_min": self.draft_p_min,
                "extra_args": redact(list(self.extra_args))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Speculation":
        values = {f.name: data.get(f.name) for f in fields(cls) if data.get(f.name) is not None}
        values["spec_type"] = parse_types(values.get("spec_type") or "")
        values["extra_args"] = tuple(values.get("extra_args") or ())
        return cls(**values)

    @staticmethod
    def field_names() -> tuple[str, ...]:
        return tuple(f.name for f in fields(Speculation))


@dataclass(frozen=True)
class Setup:
    """A labelled setup to measure against each target. ``label`` None is the baseline."""

    label: str | None
    speculation: Speculation = field(default_factory=Speculation)
    size: str | None = None  # the draft's size category for charts ("0.5B"), when given

    @property
    def is_baseline(self) -> bool:
        return self.label is None


BASELINE = Setup(None)


def axis_label(values: dict[str, Any]) -> str:
    return " · ".join(f"{AXES[k]} {v:g}" if isinstance(v, float) else f"{AXES[k]} {v}" for k, v in values.items())


def expand(setup: Setup, axes: dict[str, list[Any]]) -> list[Setup]:
    """One setup per combination of axis values, labelled '<label> · n_max 2 · p_min 0.7'."""
    if not axes:
        return [setup]
    names = list(axes)
    out = []
    for combo in itertools.product(*(axes[n] for n in names)):
        values = {n: (float(v) if n == "draft_p_min" else v) for n, v in zip(names, combo)}
        out.append(Setup(f"{setup.label} · {axis_label(values)}", setup.speculation.with_axes(values),
                             setup.size))
    return out
