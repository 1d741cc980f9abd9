"""The plan of a sweep: an ordered list of cells (target x setup), baselines first, and which cells
could share one server session."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..core import gguf_header
from ..core.redaction import visible
from ..errors import ConfigError, ModelFileError, UnsupportedSetup
from ..server import llama_bin, vllm
from ..setup.backend import VLLM
from ..setup.config import ModelEntry, SweepConfig
from ..setup.levels import Level, varying
from ..setup.prompts import Prompt, schedule
from ..setup.speculation import AXES, BASELINE, HEAD_TYPES, TARGET_HEADS, Setup, Speculation


@dataclass(frozen=True)
class Cell:
    """One unit of measurement. ``key`` is what resume matches."""

    index: int  # 1-based position in the plan
    target: ModelEntry
    setup: Setup
    level: Level = Level()  # how the server is used: requests in flight at once, temperature
    shown: tuple[str, ...] = ()  # the level fields the sweep varies: titles say them
    shard: int | None = None  # the shard of a fleet that measures it (sweep/shards.py); None: one machine

    @property
    def key(self) -> tuple[str, str | None, Level, int | None]:
        return (self.target.label, self.setup.label, self.level, self.shard)

    @property
    def baseline_key(self) -> tuple[str, None, Level, int | None]:
        return (self.target.label, None, self.level, self.shard)

    @property
    def title(self) -> str:
        label, level = self.setup.label, self.level.text(self.shown)
        return self.target.label + (f" + {label}" if label else " (baseline)") + (f" @ {level}" if level else "")


def build_plan(cfg: SweepConfig) -> list[Cell]:
    """Per target: the baseline, then each setup; each at every level in turn (concurrency, then temperature),
    so the levels of one setup can share a server session."""
    levels, warm = cfg.settings.levels(), cfg.settings.warm_pool
    shown = varying(levels)
    setups = [x for c in cfg.setups for x in ((c, c.warmed(warm)) if warm and c.speculation.stateful else (c,))]
    triples = [(t, c, lv) for t in cfg.targets for c in (BASELINE, *setups) for lv in levels]
    return [Cell(i, t, c, lv, shown) for i, (t, c, lv) in enumerate(triples, 1)]


def server_slots(cfg: SweepConfig) -> int:
    """``--parallel`` for every server of the sweep: its largest level; 1 (the server's own default) without levels."""
    return max(cfg.settings.concurrency)


def level_session(cell: Cell) -> tuple:
    """Cells with the same value differ only in their level: one server session measures them in turn."""
    return (cell.target.label, cell.setup.speculation)


def session_key(cell: Cell) -> tuple | None:
    """Cells with the same key differ only in the values of their axis fields (draft length, p-min):
    where a build honours per-request speculation settings, one server can measure them all.
    None for the baseline."""
    spec = cell.setup.speculation
    if spec.is_baseline:
        return None
    fields_set = tuple(name for name in AXES if getattr(spec, name) is not None)
    return (cell.target.label, spec.with_axes(dict.fromkeys(AXES)), fields_set)


def shareable(cells: list[Cell]) -> set[tuple]:
    """Session keys held by two or more cells: only those gain from a shared server."""
    counts = Counter(session_key(c) for c in cells if session_key(c) is not None and not c.setup.speculation.stateful)
    return {k for k, n in counts.items() if n > 1 and k is not None}


def traffic(cfg: SweepConfig, cell: Cell) -> tuple[Prompt, ...]:
    """A warm-pool setup's unmeasured requests before its measured ones: prompts after the schedule's measured
    ones (never one of them: the plan refuses a prompt set too small for both)."""
    s, n = cfg.settings, cell.setup.warm_requests
    return tuple(schedule(cfg.prompts, n, offset=s.seed + s.requests * s.runs)) if n else ()


def request_fields(spec: Speculation) -> dict[str, float | int]:
    """llama-server's per-request speculation settings for a setup's axis fields ('speculative.n_max')."""
    return {f"speculative.{a.short}": getattr(spec, a.name) for a in AXES.values() if getattr(spec, a.name) is not None}


TEMPLATE_FLAGS = ("--chat-template", "--chat-template-file")


def template_warnings(cfg: SweepConfig) -> dict[str, str]:
    """Before the first run: targets whose GGUF has no chat template, so llama-server's chat endpoint falls
    back to a generic one (ChatML) that the model may not follow: it then echoes or loops, and every speedup
    measured on it is meaningless. Nothing to say when extra_args name a template. Target label -> warning."""
    if (
        not cfg.backend.llama_flags
        or cfg.settings.endpoint == "completion"
        or any(a.split("=")[0] in TEMPLATE_FLAGS for a in cfg.settings.server.extra_args)
    ):
        return {}
    out = {}
    for t in cfg.targets:
        try:
            missing = gguf_header.chat_template(t.path) is None
        except ModelFileError:
            continue  # the run reports the file itself
        if missing:
            out[t.label] = (
                f"target {visible(t.label)!r} has no chat template in its GGUF ({t.path}): llama-server falls back "
                "to ChatML, which a base or converted model may not follow (it echoes the prompt or loops, and "
                'n-gram drafting then looks fast). Give its template with "extra_args": ["--chat-template", '
                '"NAME"] (or "--jinja", "--chat-template-file", "FILE"), or measure raw text with '
                '"endpoint": "completion"; draftbench flags degenerate output either way'
            )
    return out


def _without_heads(cfg: SweepConfig) -> list[str]:
    """Setups that draft with the target's own MTP heads, paired with targets whose header has none."""
    own = [c for c in cfg.setups if TARGET_HEADS in c.speculation.spec_type and not c.speculation.draft_path]
    problems = []
    for t in cfg.targets if own and cfg.backend.local_files else ():
        try:
            layers = gguf_header.mtp_layers(t.path)
        except ModelFileError:
            continue  # a missing or broken target is skipped run by run, with its reason
        if not layers:
            names = ", ".join(repr(visible(c.label or "")) for c in own)
            problems.append(
                f'drafts: {names}: {TARGET_HEADS} without "path" drafts with the target\'s own MTP heads, '
                f"but target {visible(t.label)!r} ({t.path}) has none (no nextn_predict_layers in its GGUF "
                'header): use a target with MTP heads, give an MTP head file as "path", or speculate on '
                "this target with a draft model or n-gram"
            )
    return problems


def _head_problems(cfg: SweepConfig) -> list[str]:
    """Head files (EAGLE-3, DFlash, DSpark) checked against each target from the headers."""
    problems = []
    for c in cfg.setups if cfg.backend.local_files else ():
        spec = c.speculation
        head = spec.draft_path
        for kind in [t for t in spec.spec_type if t in HEAD_TYPES and head]:
            for t in cfg.targets:
                try:
                    found = gguf_header.head_problems(t.path, head or "", kind, spec.draft_max)
                except ModelFileError:
                    continue  # a missing or broken file is skipped run by run, with its reason
                problems += [f"drafts: {visible(c.label or '')!r}: {p}" for p in found]
    return list(dict.fromkeys(problems))


def _repeats(cfg: SweepConfig) -> None:
    """A setup that keeps state across requests must never see a measured prompt twice in one session (an n-gram
    pool would predict it from the first time): refused when the prompt set is smaller than its requests."""
    s = cfg.settings
    per_session = s.requests * s.runs + s.warm_pool
    warm = f" and warm_pool {s.warm_pool} requests of other prompts before them" if s.warm_pool else ""
    problems = [
        f"drafts: {visible(c.label or '')!r} ({', '.join(c.speculation.spec_type)}) keeps what it has seen "
        f"across requests: its {s.requests * s.runs} measured requests (runs x requests){warm} need "
        f"{per_session} different prompts, and the prompt set has {len(cfg.prompts)}: add prompts "
        "(settings.prompts) or lower requests, runs or warm_pool"
        for c in cfg.setups
        if c.speculation.stateful and per_session > len(cfg.prompts)
    ]
    if problems:
        raise ConfigError(cfg.source, problems)


def _vllm_problems(cfg: SweepConfig) -> list[str]:
    """Setups vLLM has no setting for, then every (target, setup) checked by the installed vLLM's own
    configuration (a method this build or this target cannot run), before any server starts."""
    problems, pairs = [], []
    for c in cfg.setups:
        try:
            vllm.speculative_config(c.speculation)
        except UnsupportedSetup as exc:
            problems.append(f"drafts: {visible(c.label or '')!r}: {exc}")
            continue
        pairs += [(t, c) for t in cfg.targets if not c.speculation.is_baseline]
    if problems or not pairs:
        return problems
    install = vllm.find()
    verdicts = vllm.check([(t.path, c.speculation) for t, c in pairs], cfg.settings.server.ctx_size)
    return [
        f"drafts: {visible(c.label or '')!r} on target {visible(t.label)!r}: {install.version} cannot run it "
        f"({why}): drop this setup or serve it on another build"
        for (t, c), why in zip(pairs, verdicts)
        if why
    ]


def check_setups(cfg: SweepConfig) -> None:
    """Before any server starts: a setup that drafts with the target's own MTP heads needs targets that have
    them, and a head file must fit its targets (:func:`gguf_header.head_problems`); every spec type must be one
    this llama-server build knows, and every setup field must have a flag for its types. (A build without
    --spec-type fails only the setups that need it, run by run.)"""
    _repeats(cfg)
    if cfg.backend is VLLM and any(c.speculation.spec_type for c in cfg.setups):
        problems = _vllm_problems(cfg)
        if problems:
            raise ConfigError(cfg.source, problems)
    if not cfg.backend.llama_flags or not any(c.speculation.spec_type for c in cfg.setups):
        return
    headless = _without_heads(cfg) + _head_problems(cfg)
    if headless:
        raise ConfigError(cfg.source, headless)
    binary = llama_bin.find_llama_server(cfg.settings.server.llama_bin)
    flags, _ = llama_bin.probe(binary)
    if not flags.has_spec_type:
        return
    problems = []
    for c in cfg.setups:
        try:
            flags.speculation_args(c.speculation)  # unknown types, fields without a flag
        except UnsupportedSetup as exc:
            problems.append(f"drafts: {visible(c.label or '')!r}: {exc} ({binary})")
    if problems:
        raise ConfigError(cfg.source, list(dict.fromkeys(problems)))
