"""How a server speculates, as one value: draft model or none, spec types, draft length, p-min, extra args.

A ``Speculation`` flows unchanged from the config (or ``server.py``'s flags) to the launcher, which
maps it onto the flags a build accepts (``llama_bin.FlagMap.speculation_args``), into each result
and its resume check, and into the report. A ``Setup`` is a Speculation with the label people
read. The settings a setup can vary (draft length, p-min) are declared once, in ``AXES``: config parsing and
its messages, settings, ``server.py``'s flags, labels, per-request fields, llama.cpp's flags, results files and
CSV columns all read that table, so adding an axis means adding a row there and nothing else.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace
from typing import Any

from ..core.limits import Limit
from ..core.redaction import redact

STATELESS_NGRAM = "ngram-simple"  # the one n-gram type that keeps nothing between requests (see Speculation.stateful)
DRAFT_FAMILY = "draft"  # spec types "draft-*" all read the --spec-draft-* flags
DEFAULT_TYPES_WITH_DRAFT = ("draft-simple",)
TARGET_HEADS = "draft-mtp"  # the one draft type that may draft with the target's own heads (no "path")
METHODS = {
    "draft-simple": "draft model",
    "draft-mtp": "MTP",
    "draft-eagle3": "EAGLE-3",
    "draft-dflash": "DFlash",
    "draft-dspark": "DSpark",
}  # what the report calls each draft type; every ngram-* type is "n-gram"
COMBINED = "combined"
HEAD_TYPES = ("draft-eagle3", "draft-dflash", "draft-dspark")  # heads trained for one target, in a file of their own
NO_DRAFT_MODEL = "no draft model"


@dataclass(frozen=True)
class Axis:
    """A setting that setups can vary, with everything derived from it."""

    name: str  # the setup's field, its key in configs, settings, results files and CSV
    short: str  # in generated labels ("n_max 3") and llama-server's per-request field ("speculative.n_max")
    limit: Limit  # its type and bounds
    flags: tuple[str, ...]  # llama-server's flags per spec-type family ({f}: "draft" or the n-gram type), newest first
    old_flags: tuple[str, ...]  # builds before --spec-type (draft models only)
    help: str  # what server.py's flag says
    vllm_key: str | None = None  # the --speculative-config field vLLM takes it as; None: not for vLLM

    @property
    def flag(self) -> str:
        """server.py's flag: --draft-max."""
        return "--" + self.name.replace("_", "-")

    def value(self, raw: Any) -> Any:
        """A checked value in its kind (p-min 1 -> 1.0)."""
        return self.limit.kind(raw)


# The n-gram types other than ngram-mod have no n-max: the length of their drafted m-gram (size-m) is their length.
AXES: dict[str, Axis] = {
    a.name: a
    for a in (
        Axis(
            "draft_max",
            "n_max",
            Limit(1, 1_024),
            ("--spec-{f}-n-max", "--spec-{f}-size-m"),
            ("--draft-max", "--draft"),
            "tokens drafted per step",
            vllm_key="num_speculative_tokens",
        ),
        Axis("draft_min", "n_min", Limit(0, 1_024), ("--spec-{f}-n-min",), ("--draft-min",), "minimum tokens drafted per step"),
        Axis(
            "draft_p_min",
            "p_min",
            Limit(0, 1, float),
            ("--spec-{f}-p-min",),
            ("--draft-p-min",),
            "stop drafting below this draft probability (0-1)",
        ),
        Axis(
            "draft_sampling",
            "sampling",
            Limit.one_of("greedy", "probabilistic"),
            ("--spec-{f}-sampling",),
            (),
            "how drafts are sampled and verified at temperature > 0: greedy (the draft's argmax, kept where the target "
            "samples the same token) or probabilistic (sampled drafts, verified by rejection sampling)",
            vllm_key="draft_sample_method",
        ),
        Axis(
            "ngram_n",
            "ngram_n",
            Limit(1, 1_024),
            ("--spec-{f}-size-n", "--spec-{f}-n-match"),
            (),
            "n-gram types: tokens looked up in the text so far to find what followed them (vLLM: the longest)",
            vllm_key="prompt_lookup_max",
        ),
        Axis(
            "ngram_n_min",
            "ngram_n_min",
            Limit(1, 1_024),
            (),
            (),
            "vLLM's n-gram method: the shortest lookup it falls back to (default: ngram_n)",
            vllm_key="prompt_lookup_min",
        ),
    )
}


# Flags draftbench sets itself, and what sets them instead: "extra_args" repeating one would run another model, port
# or setup than the one its label names (the later flag wins in llama-server). The axes' flags come from AXES.
MANAGED_FLAGS: dict[str, str] = {
    **dict.fromkeys(("-m", "--model"), 'the target\'s "path"'),
    **dict.fromkeys(("-md", "--model-draft", "--spec-draft-model"), 'the setup\'s "path"'),
    "--spec-type": 'the setup\'s "spec_type"',
    "--port": "settings.port (server.py: --port)",
    "--host": "settings.host (server.py: --host)",
    **dict.fromkeys(("-c", "--ctx-size"), "settings.ctx_size"),
    **dict.fromkeys(
        ("-ngl", "--gpu-layers", "--n-gpu-layers", "-ngld", "--spec-draft-ngl", "--n-gpu-layers-draft"), "settings.gpu_layers"
    ),
    **dict.fromkeys(("-np", "--parallel"), "settings.concurrency"),
    # vLLM's speculation options: a baseline given one would speculate (each setup's comes from its own entry)
    **dict.fromkeys(
        (
            "--speculative-config",
            "--speculative_config",
            "-sc",
            "--speculative-model",
            "--speculative_model",
            "--num-speculative-tokens",
            "--num_speculative_tokens",
        ),
        "the setup's \"spec_type\" and axes (draftbench writes vLLM's --speculative-config)",
    ),
}
_AXIS_FLAG_RES = [
    (re.compile("^" + re.escape(t).replace(re.escape("{f}"), "[a-z0-9-]+") + "$"), a.name)
    for a in AXES.values()
    for t in (*a.flags, *a.old_flags)
]


def managed_problem(args: list[str] | tuple[str, ...]) -> str | None:
    """Why ``args`` (extra_args) may not be passed: the first flag draftbench manages, and what to set instead."""
    for arg in args:
        name = arg.split("=", 1)[0]
        field_ = MANAGED_FLAGS.get(name) or next((f'"{axis}"' for rx, axis in _AXIS_FLAG_RES if rx.match(name)), None)
        if field_:
            return f"{name} is set by draftbench from {field_}: set that instead of passing {name} in extra_args"
    return None


def axis_problem(name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid ``name`` (an AXES field), or None."""
    return AXES[name].limit.problem(value)


def parse_types(text: str) -> tuple[str, ...]:
    """'draft-simple, ngram-mod' -> ('draft-simple', 'ngram-mod'); empty parts dropped."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def type_family(spec_type: str) -> str:
    """The flag family of a type: 'draft' for every draft-* type, else the type itself ('ngram-mod')."""
    return DRAFT_FAMILY if spec_type.startswith(DRAFT_FAMILY + "-") else spec_type


@dataclass(frozen=True, init=False)
class Speculation:
    """One speculation setup. All None/empty is the baseline: no speculation. Axis values are attributes
    (``spec.draft_max``, None when not set) and keyword arguments, held in ``values`` in table order."""

    draft_path: str | None = None
    spec_type: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()
    values: tuple[tuple[str, Any], ...] = ()

    def __init__(
        self,
        draft_path: str | None = None,
        spec_type: tuple[str, ...] = (),
        extra_args: tuple[str, ...] = (),
        values: tuple[tuple[str, Any], ...] = (),
        **axes: Any,
    ):
        unknown = [k for k in axes if k not in AXES]
        if unknown:
            raise TypeError(f"Speculation has no axis {', '.join(unknown)}")
        given = {**dict(values), **axes}
        setattr_ = object.__setattr__
        setattr_(self, "draft_path", draft_path)
        setattr_(self, "spec_type", tuple(spec_type) or (DEFAULT_TYPES_WITH_DRAFT if draft_path else ()))
        setattr_(self, "extra_args", tuple(extra_args))
        setattr_(self, "values", tuple((n, given[n]) for n in AXES if given.get(n) is not None))

    def __getattr__(self, name: str) -> Any:  # only for names that are not attributes: the axes
        if name in AXES:
            return dict(self.values).get(name)
        raise AttributeError(name)

    @property
    def is_baseline(self) -> bool:
        return not self.draft_path and not self.spec_type

    @property
    def method(self) -> str | None:
        """How it speculates, as the report names it: one of ``METHODS``, "n-gram", or "combined" for several."""
        found = dict.fromkeys(METHODS.get(t, "n-gram") for t in self.spec_type)
        return None if not found else next(iter(found)) if len(found) == 1 else COMBINED

    @property
    def stateful(self) -> bool:
        """Does it keep what it has seen across requests? From b11434's common/speculative.cpp: ngram-mod's pool is
        one per server, shared by every request and slot; ngram-cache keeps its cache between requests (its begin()
        does nothing); the ngram-map types keep each slot's key map across requests (trimmed, not cleared); only
        ngram-simple drafts from the current request's tokens alone. Such a setup gets a server of its own per
        level and never sees a measured prompt twice."""
        return any(t.startswith("ngram") and t != STATELESS_NGRAM for t in self.spec_type)

    @property
    def uses_head(self) -> bool:
        """Does it draft with a head that cannot run alone (MTP, EAGLE-3, DFlash, DSpark)?"""
        return any(t in HEAD_TYPES or t == TARGET_HEADS for t in self.spec_type)

    def with_axes(self, values: dict[str, Any]) -> "Speculation":
        """This setup with the axes in ``values`` set (None: unset), the rest kept."""
        return replace(self, **values)

    def comparable(self) -> dict[str, Any]:
        """What changes the measured numbers (the model's path may move; its label names it)."""
        out = self.to_dict()
        out.pop("draft_path")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, secrets in ``extra_args`` redacted; ``spec_type`` as the flag spells it."""
        return {
            "draft_path": self.draft_path,
            "spec_type": ",".join(self.spec_type) or None,
            **{n: getattr(self, n) for n in AXES},
            "extra_args": redact(list(self.extra_args)),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Speculation":
        return cls(
            data.get("draft_path"),
            parse_types(data.get("spec_type") or ""),
            tuple(data.get("extra_args") or ()),
            **{n: data[n] for n in AXES if data.get(n) is not None},
        )

    @staticmethod
    def field_names() -> tuple[str, ...]:
        return ("draft_path", "spec_type", *AXES, "extra_args")


@dataclass(frozen=True)
class Setup:
    """A labelled setup to measure against each target. ``label`` None is the baseline."""

    label: str | None
    speculation: Speculation = field(default_factory=Speculation)
    size: str | None = None  # the draft's size category for charts ("0.5B"), when given
    warm_requests: int = 0  # unmeasured requests of other prompts first: a stateful method's warm pool (warm_pool)

    @property
    def is_baseline(self) -> bool:
        return self.label is None

    def warmed(self, n: int) -> "Setup":
        """The same setup measured after ``n`` requests of other traffic: a result of its own, labelled so."""
        return replace(self, label=f"{self.label} · warm pool {n}", warm_requests=n)


BASELINE = Setup(None)


def axis_label(values: dict[str, Any]) -> str:
    return " · ".join(f"{AXES[k].short} {v:g}" if isinstance(v, float) else f"{AXES[k].short} {v}" for k, v in values.items())


def expand(setup: Setup, axes: dict[str, list[Any]]) -> list[Setup]:
    """One setup per combination of axis values, labelled '<label> · n_max 2 · p_min 0.7'."""
    if not axes:
        return [setup]
    names = list(axes)
    out = []
    for combo in itertools.product(*(axes[n] for n in names)):
        values = {n: AXES[n].value(v) for n, v in zip(names, combo)}
        out.append(Setup(f"{setup.label} · {axis_label(values)}", setup.speculation.with_axes(values), setup.size))
    return out
