"""Results files: self-describing JSON, written atomically, read in every known version.

Version 1 is the original tool's format (no ``schema_version``): a list of results with
``target``, ``draft``, ``mean_tps``, ``median_tps``, ``mean_ttft``, ``mean_total_time``,
``acceptance_rate``. Version 2 keeps those fields and adds the ones in ``RunResult``. Version 3
adds each run's speculation setup, flat (``spec_type``, ``draft_max``, ``draft_min``,
``draft_p_min``, ``extra_args`` next to ``draft_path``), and the flags that ran it
(``speculation_flags``). Runs of older files have no known setup (``speculation`` None). Version 4
adds the adaptive search's fields (``pruned``, ``pruned_as``, ``pruned_vs``, ``pruned_reason``,
``pruned_interval``, ``in_progress``) and concurrency levels (``concurrency``, ``aggregate_tps``,
``aggregate_speedup``, ``median_ttft``, ``p95_ttft_s``, ``loop_wall_s``, ``max_in_flight``) and per-category
results (``categories``); older runs read as measured in full, one request at a time, without categories.
Version 5 computes ``speedup`` and ``speedup_ci95`` paired, request by request against the baseline on the
same prompts (see :mod:`stats`), and says so in ``speedup_design`` with ``speedup_n`` pairs; older files
with requests are recomputed that way when loaded, and those without (version 1) read as unpaired. It also
adds the output checks of :mod:`health` (``degenerate_output``; per request ``output_problems``,
``echo_share``, ``repeat_share``, ``distinct_ratio``); older runs read as unchecked (None). Version 6 adds
baseline drift and machine load (see :mod:`drift`): a baseline's ``baseline_checks`` (the baseline measured again
during the sweep), a setup's ``drift_factor`` and ``speedup_uncorrected``, each request's ``sent_unix_s``, and
the load of other processes while a run was measured (``other_cpu_share``, ``other_cpu_share_before``,
``gpu_busy_before_pct``); older runs read as measured once, load unknown (None), and nothing is corrected.
Version 7 adds the cost model's measurements in the speculative loop (see :mod:`costmodel`): a setup's
``verify_in_loop`` (its verification time per pass, from a run of the same setup with synthetic acceptance)
and ``position_counts`` (accepted tokens at each draft position); older runs are explained with v(k) from
prompt batches and one acceptance rate for every position, and their parts say so. Version 8 puts a unit in
every name (``RENAMED``: ``mean_ttft_s``, ``median_ttft_s``, ``mean_total_time_s``, ``decode_tps_ci95``, a
category's ``decode_tps_ci95``); older names are read as the new ones. Version 9 makes temperature a level (a run's
``temperature``, None for the settings' one value), adds ``draft_sampling``, ``output_check``, the distribution
check, context ``depth`` and the file's ``recommendations`` and ``crossovers`` (as evaluated when written; computed
again on load). Version 10 adds the model search's predictions (``predicted_speedup``, ``predicted_ci95``,
``predicted_from``; ``pruned_as`` "predicted" for a setup it never measured). Version 11 adds shards of a fleet: a
shard's file says which part of the plan it measured (``shard``), a merged file lists its shards (``shards``) and
each run the shard that measured it (``shard``); older runs read as unsharded (None). Version 12 adds runs on a live
vLLM: what its engine did
(``engine``: steps, mean sequences per step, preemptions, prefix-cache hits, queue time) and the position counts
from its counters; and what each run costs in memory (``memory``: the server's buffers per model and device from
its log, peak resident memory, the dry run's estimate; ``extra_memory_mib`` over the baseline), and the file's
``schedules`` (evaluated when written); older runs have none (None). Every figure computed from runs
(speedups, categories, cost-model parts) is computed again when a file is read (:mod:`evaluate`), so a file says
what this version computes from its measurements.
"""

from __future__ import annotations

import functools
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..core import stats
from ..core.records import decode, from_saved, hints, renamed_keys
from ..records.distribution import DistributionSamples
from ..records.measured import Measured
from ..records.memory import Memory
from ..records.per_request import PerRequestProbe
from ..records.probes import DraftAlone, LoopVerification, PositionCounts
from ..records.requests import RequestResult, SlotDrafts
from ..records.traffic import TrafficScore
from ..records.turns import TurnScores
from ..setup.levels import Level, where
from ..setup.speculation import Speculation
from .costmodel import Parts
from .distribution import DistributionCheck

SCHEMA_VERSION = 13
# What a file keeps of its evaluation for its readers, each an Evaluation field of that name: computed again from the
# runs on every load, never read back (the recommendations are written even when there are none).
COMPUTED = ("recommendations", "schedules", "crossovers", "length_curves", "check_points")
# Older names of a run's (and a category's) fields, read as the new ones: old -> new.
RENAMED = {
    "mean_ttft": "mean_ttft_s",
    "median_ttft": "median_ttft_s",
    "mean_total_time": "mean_total_time_s",
    "ci95_tps": "decode_tps_ci95",
    "peak_rss_mb": "peak_rss_mib",
    "peak_vram_mb": "peak_vram_mib",
}


def saved_ratio(value: float, ci95: list[float] | None, n: int | None, design: str | None) -> stats.Ratio:
    """A speedup as a record keeps it (a run's or a category's), as one value. Files before version 5 say neither
    n nor design: unpaired."""
    ci = (ci95[0], ci95[1]) if ci95 and len(ci95) == 2 else None
    return stats.Ratio(value, ci, n or 0, design == "paired")


@dataclass(frozen=True)
class CategoryResult:
    """A run's requests of one prompt category: decode speed, acceptance and the speedup over its baseline on the
    same category (paired)."""

    n_requests: int
    decode_tps: float | None = None
    decode_tps_ci95: list[float] | None = None
    acceptance_rate: float | None = None
    mean_accepted_length: float | None = None
    speedup: float | None = None
    speedup_ci95: list[float] | None = None
    speedup_n: int | None = None
    speedup_design: str | None = None  # "paired" or "unpaired"

    def ratio(self) -> stats.Ratio:
        """The speedup as one value (:func:`saved_ratio`)."""
        return saved_ratio(self.speedup or 0.0, self.speedup_ci95, self.speedup_n or self.n_requests, self.speedup_design)

    @classmethod
    def from_dict(cls, data: Any) -> "CategoryResult | None":
        return from_saved(cls, data, RENAMED)


@dataclass(frozen=True)
class OutputCheck:
    """At temperature 0, a setup's completions against its baseline's on the same prompts: speculation verified
    exactly leaves greedy output unchanged, so a difference early in a completion points at the setup (a wrong
    sampler, a broken verification), a late one at numerics (batched verification rounds differently)."""

    n: int  # requests paired with the baseline's on the same prompt
    identical: int  # of them, completions equal to the baseline's
    first_difference_chars: tuple[int, ...] = ()  # per differing request: characters equal before the first change

    def text(self) -> str:
        said = f"{self.identical}/{self.n} completions identical to the baseline's"
        if self.first_difference_chars:
            at = sorted(self.first_difference_chars)
            said += f"; the others differ from character {at[0]} (median {at[len(at) // 2]})"
        return said


@dataclass(frozen=True)
class BaselineCheck:
    """The baseline measured again part-way through its target's setups: one block of the schedule's first
    prompts, on a server of its own, after the setup named in ``after``."""

    after: str
    requests: list[RequestResult] = field(default_factory=list)
    other_cpu_share: float | None = None  # other processes' share of the CPUs while it ran

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BaselineCheck":
        return cls(str(data.get("after")), decode(list[RequestResult], data.get("requests")) or [], data.get("other_cpu_share"))


@dataclass(frozen=True)
class ShardInfo:
    """One shard of a sweep split across a fleet (sweep/shards.py): which part of the plan it measured, of which
    config, where. A shard's file holds its own; a merged file, every shard's."""

    index: int  # from 0, like SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX
    count: int
    config_hash: str  # the config file's content (canonical JSON): merged shards must share it
    plan_hash: str  # every cell of the unsharded plan: shards that split it differently cannot be merged
    plan_cells: int  # cells in the unsharded plan
    cells: list[int]  # plan positions (1-based) this shard measures: its setups and its targets' baselines
    source: str = "--shard"  # where the index came from: --shard, SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX
    job: str | None = None  # the scheduler's job id (SLURM_ARRAY_JOB_ID_TASK, or the pod's hostname)
    host: str | None = None  # set on merge: the node that measured it
    hardware: str | None = None  # set on merge
    file: str | None = None  # set on merge: the shard's results file

    @property
    def name(self) -> str:
        return f"shard {self.index} of {self.count}"


@dataclass(frozen=True)
class FileMeta:
    """A results file's own fields: what was measured, where, with what, and what a later session keeps knowing
    (``per_request_speculation``, ``setup_sessions``, ``draft_alone``)."""

    timestamp: str | None = None
    name: str | None = None
    hardware: str | None = None
    backend: str | None = None
    model_family: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # the config's settings as measured (SweepSettings)
    draftbench_version: str | None = None
    server_version: str | None = None
    setup_sessions: str | None = None
    config_path: str | None = None
    command_line: list[str] | None = None
    machine: dict[str, Any] | None = None  # machine.machine_info(): free-form facts of the machine
    warnings: list[str] = field(default_factory=list)
    per_request_speculation: PerRequestProbe | None = None  # does the server honour per-request draft settings?
    draft_alone: dict[str, DraftAlone] = field(default_factory=dict)  # draft path -> its speed alone
    shard: ShardInfo | None = None  # a shard's file: the part of the plan it measured
    shards: list[ShardInfo] = field(default_factory=list)  # a merged file: every shard merged into it
    schema_version: int = SCHEMA_VERSION  # as read; a file is written at SCHEMA_VERSION
    other: dict[str, Any] = field(default_factory=dict)  # fields of other versions, kept as they were

    def title(self, default: str) -> str:
        """'<model family> on <hardware>': what a report and an export are headed with."""
        return f"{self.model_family or self.name or default} on {self.hardware or '?'}"

    def to_dict(self) -> dict[str, Any]:
        out = {**self.other, **asdict(self), "schema_version": SCHEMA_VERSION}
        del out["other"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FileMeta":
        known = {f.name for f in fields(cls)} - {"other"}
        values = {k: decode(hints(cls)[k], v) for k, v in data.items() if k in known and v is not None}
        values["schema_version"] = data.get("schema_version", 1)
        return cls(**values, other={k: v for k, v in data.items() if k not in known and k not in ("results", *COMPUTED)})


@dataclass(frozen=True)
class RunResult(Measured):
    """One cell of the matrix: a target alone (``draft`` None) or with one speculation setup, whose label is
    ``draft``: what its requests measured (``Measured``, taken from its summary) and what the sweep learnt. In JSON
    the setup's fields sit flat beside the others. Frozen: a sweep builds it once (``CellMeasurer.record``), and
    what is computed from runs (speedups, per-category results, cost-model parts, an early stop) is a new value
    (``dataclasses.replace``), never an assignment."""

    target: str
    draft: str | None
    concurrency: int = 1  # requests in flight at once while it was measured
    temperature: float | None = None  # its level's temperature where the sweep had several (None: the settings')
    depth: int | None = None  # its level's tokens of context before each prompt (None: depth 0, as before)
    request_rate: float | None = None  # its level's arrivals per second (0: all at once; None: a closed loop)
    warm_pool_requests: int | None = None  # measured after this many requests of other prompts (settings.warm_pool)
    aggregate_speedup: float | None = None  # aggregate_tps over the baseline's at the same level
    speedup: float | None = None
    speedup_ci95: list[float] | None = None
    speedup_n: int | None = None  # pairs of requests (paired) or requests (unpaired) behind speedup
    speedup_design: str | None = None  # "paired" (request by request on the same prompts) or "unpaired"
    parts: Parts | None = None  # the cost model's parts and verdict (costmodel.Parts)
    turns: TurnScores | None = None  # a replayed conversation workload's turns (results/conversations.py)
    traffic: TrafficScore | None = None  # at a request rate: goodput, latency percentiles (results/traffic.py)
    slots: list[SlotDrafts] | None = None  # with several slots: drafted and accepted tokens per slot (measure/slots.py)
    verify_costs: dict[str, float] | None = None  # a baseline's v(k), keyed by k
    draft_alone_tps: float | None = None  # the draft model's own decode tok/s
    draft_ms_per_pass: float | None = None  # drafting time per target pass, measured in-process
    verify_in_loop: LoopVerification | None = None  # the setup again with synthetic acceptance (cost_probes.py)
    position_counts: PositionCounts | None = None  # verifications and accepted tokens at each draft position
    output_match: float | None = None  # share of output_check's completions identical to the baseline's
    output_check: OutputCheck | None = None  # at temperature 0: completions against the baseline's (evaluate.py)
    distribution_samples: DistributionSamples | None = None  # check_distribution: short continuations it sampled
    distribution_check: DistributionCheck | None = None  # those against the baseline's (results/distribution.py)
    baseline_checks: list[BaselineCheck] | None = None  # a baseline's later measurements (drift.py)
    drift_factor: float | None = None  # the baseline's speed when this setup ran over its first measurement
    speedup_uncorrected: float | None = None  # the speedup before the drift correction (set when one applied)
    other_cpu_share: float | None = None  # share of all CPUs other processes used while the requests ran
    other_cpu_share_before: float | None = None  # the same, in a short sample before its server started
    gpu_busy_before_pct: float | None = None  # GPU utilisation (nvidia-smi) before its server started
    wall_time_s: float | None = None
    load_time_s: float | None = None
    peak_rss_mib: float | None = None
    peak_vram_mib: float | None = None
    memory: Memory | None = None  # its server's buffers per model and device, peak memory, the dry run's estimate
    extra_memory_mib: float | None = None  # memory.needed_mib over its baseline's (evaluate.py)
    target_path: str | None = None
    target_id: str | None = None  # the target file's identity (gguf_header.identity): size and a hash
    draft_id: str | None = None  # the draft model file's, for setups with one
    speculation: Speculation | None = None
    speculation_flags: list[str] | None = None
    draft_size: str | None = None
    server_command: list[str] | None = None
    server_fixes: list[str] | None = None  # flags draftbench added after its server crashed without them
    # (--no-repack): in server_command, and in the flags to copy
    server_version: str | None = None
    log_path: str | None = None
    categories: dict[str, CategoryResult] | None = None  # per prompt category
    pruned: bool = False  # adaptive search stopped it early: its numbers cover n_requests requests
    pruned_as: str | None = None  # "slower" (than pruned_vs), "tied" (with it, within the resolution) or "predicted"
    # (the model search never measured it: its prediction could not beat pruned_vs)
    pruned_vs: str | None = None  # the setup it was compared with ("baseline" for the target alone)
    pruned_reason: str | None = None
    pruned_interval: list[float] | None = None  # its ratio to pruned_vs, at the search's confidence
    in_progress: bool = False  # adaptive search saved it between two blocks; resume continues it
    predicted_speedup: float | None = None  # the model search's prediction when it decided (results/predict.py)
    predicted_ci95: list[float] | None = None
    predicted_from: str | None = None  # the measured setup the prediction was scaled from
    shard: int | None = None  # the shard of a fleet that measured it (None: a sweep on one machine)
    error: str | None = None
    log_excerpt: str | None = None
    other: dict[str, Any] = field(default_factory=dict)  # fields of other versions, kept as they were

    @functools.cached_property
    def level(self) -> Level:  # made once per run: evaluation groups every run by it
        return Level(self.concurrency, self.temperature, self.depth, self.request_rate)

    @functools.cached_property
    def length_key(self) -> tuple:
        """What the runs of one draft at several draft lengths share: target, level, shard (one node's
        measurements) and the setup but its draft_max (made once per run: evaluation groups every run by it)."""
        return (
            self.target,
            self.level,
            self.shard,
            self.speculation.with_axes({"draft_max": None}) if self.speculation else None,
        )

    @property
    def where(self) -> str:
        """Its target, and its level where that is not one stream at the sweep's one temperature."""
        return where(self.target, self.level)

    @property
    def key(self) -> tuple[str, str | None, Level, int | None]:
        return (self.target, self.draft, self.level, self.shard)

    @property
    def baseline_key(self) -> tuple[str, None, Level, int | None]:
        """Its baseline's key: the same target and level, measured by the same shard."""
        return (self.target, None, self.level, self.shard)

    @property
    def flags(self) -> list[str]:
        """The flags a user adds to their own llama-server to run this setup as it was measured: the setup's, and
        any a crash at start-up made necessary (``server_fixes``)."""
        return [*(self.speculation_flags or []), *(self.server_fixes or [])]

    @property
    def done(self) -> bool:
        return self.error is None and self.mean_tps is not None and not self.in_progress

    @property
    def draft_path(self) -> str | None:
        return self.speculation.draft_path if self.speculation else self.other.get("draft_path")

    def speedup_ratio(self) -> stats.Ratio | None:
        """The speedup over the baseline as one value (as computed, or as a file of any version stored it)."""
        if self.speedup is None:
            return None
        return saved_ratio(self.speedup, self.speedup_ci95, self.speedup_n or self.n_requests, self.speedup_design)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.other)
        out.update(asdict(self))
        del out["speculation"], out["other"]
        if self.speculation is not None:
            out.update(self.speculation.to_dict())
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunResult":
        """Any version's run. Without ``spec_type`` (versions 1-2) the setup is unknown: None."""
        data = renamed_keys(data, RENAMED)
        known = {f.name for f in fields(cls)} - {"speculation", "other"}
        setup = set(Speculation.field_names()) if "spec_type" in data else set()
        values = {k: v for k, v in data.items() if k in known}
        values["other"] = {k: v for k, v in data.items() if k not in known and k not in setup}
        values.setdefault("draft", None)  # a baseline written without its null draft
        for name in REQUIRED_VALUE:  # null where a value is declared (concurrency, pruned): the default
            if name in values and values[name] is None:
                del values[name]
        if setup:
            values["speculation"] = Speculation.from_dict(data)
        declared = hints(cls)  # the records among its fields, decoded by their annotations
        values.update((k, decode(declared[k], v)) for k, v in values.items() if k not in ("other", "speculation"))
        return cls(**values)


REQUIRED_VALUE = tuple(
    name
    for name, hint in typing.get_type_hints(RunResult).items()
    if name not in ("target", "draft") and type(None) not in typing.get_args(hint)
)
