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
``echo_share``, ``repeat_share``, ``distinct_ratio``); older runs read as unchecked (None).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .costmodel import Parts
from .errors import ResultsFileError
from .speculation import Speculation
from .stream import RequestResult

SCHEMA_VERSION = 5
MIN_FREE_BYTES = 16 * 2**20


@dataclass(frozen=True)
class RunResult:
    """One cell of the matrix: a target alone (``draft`` None) or with one speculation setup, whose
    label is ``draft``. In JSON the setup's fields sit flat beside the others. Frozen: a sweep builds it
    once from what it measured (``Sweep._record``), and what is computed from runs (speedups, per-category
    results, cost-model parts, an early stop) is a new value (``dataclasses.replace``), never an assignment."""

    target: str
    draft: str | None
    concurrency: int = 1  # requests in flight at once while it was measured
    mean_tps: float | None = None
    median_tps: float | None = None
    mean_ttft: float | None = None
    mean_total_time: float | None = None
    acceptance_rate: float | None = None
    median_ttft: float | None = None
    p95_ttft_s: float | None = None
    aggregate_tps: float | None = None  # completion tokens of all its requests over first send to last end
    aggregate_speedup: float | None = None  # aggregate_tps over the baseline's at the same level
    loop_wall_s: float | None = None
    max_in_flight: int | None = None
    stdev_tps: float | None = None
    ci95_tps: list[float] | None = None
    n_requests: int | None = None
    n_failed_requests: int | None = None
    draft_n: int | None = None
    draft_n_accepted: int | None = None
    mean_accepted_length: float | None = None
    speedup: float | None = None
    speedup_ci95: list[float] | None = None
    speedup_n: int | None = None  # pairs of requests (paired) or requests (unpaired) behind speedup
    speedup_design: str | None = None  # "paired" (request by request on the same prompts) or "unpaired"
    parts: Parts | None = None  # the cost model's parts and verdict (costmodel.Parts)
    verify_costs: dict[str, float] | None = None  # a baseline's v(k), keyed by k
    draft_alone_tps: float | None = None  # the draft model's own decode tok/s
    draft_ms_per_pass: float | None = None  # drafting time per target pass, measured in-process
    speculation_active: bool | None = None
    degenerate_output: str | None = None  # why its completions are not text a user wants (draftbench.health); None: fine
    output_match: float | None = None
    wall_time_s: float | None = None
    load_time_s: float | None = None
    generation_time_s: float | None = None
    peak_rss_mb: float | None = None
    peak_vram_mb: float | None = None
    target_path: str | None = None
    target_id: str | None = None  # the target file's identity (gguf_header.identity): size and a hash
    draft_id: str | None = None  # the draft model file's, for setups with one
    speculation: Speculation | None = None
    speculation_flags: list[str] | None = None
    draft_size: str | None = None
    server_command: list[str] | None = None
    server_version: str | None = None
    log_path: str | None = None
    categories: dict[str, dict[str, Any]] | None = None  # per prompt category: requests, tok/s, acceptance, speedup
    pruned: bool = False  # adaptive search stopped it early: its numbers cover n_requests requests
    pruned_as: str | None = None  # "slower" (than pruned_vs) or "tied" (with it, within the resolution)
    pruned_vs: str | None = None  # the setup it was compared with ("baseline" for the target alone)
    pruned_reason: str | None = None
    pruned_interval: list[float] | None = None  # its ratio to pruned_vs, at the search's confidence
    in_progress: bool = False  # adaptive search saved it between two blocks; resume continues it
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    log_excerpt: str | None = None
    requests: list[RequestResult] = field(default_factory=list)  # in schedule order, typed until written
    other: dict[str, Any] = field(default_factory=dict)  # fields of other versions, kept as they were

    @property
    def key(self) -> tuple[str, str | None, int]:
        return (self.target, self.draft, self.concurrency)

    @property
    def done(self) -> bool:
        return self.error is None and self.mean_tps is not None and not self.in_progress

    @property
    def draft_path(self) -> str | None:
        return self.speculation.draft_path if self.speculation else self.other.get("draft_path")

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
        known = {f.name for f in fields(cls)} - {"speculation", "other"}
        setup = set(Speculation.field_names()) if "spec_type" in data else set()
        values = {k: v for k, v in data.items() if k in known}
        values["other"] = {k: v for k, v in data.items() if k not in known and k not in setup}
        if setup:
            values["speculation"] = Speculation.from_dict(data)
        values["parts"] = Parts.from_dict(values.get("parts"))
        values["requests"] = [RequestResult.from_dict(q) for q in values.get("requests") or [] if isinstance(q, dict)]
        return cls(**values)


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def write_json_atomic(path: str, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def check_writable(path: str) -> None:
    """Fail early when the results folder cannot be written or is nearly full."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".draftbench-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ResultsFileError(f"cannot write results to {folder}: {exc.strerror}; "
                               "choose another place with --results PATH") from exc
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise ResultsFileError(f"only {free // 2**20} MiB free in {folder}: free some space or use --results PATH")


def load_results(path: str) -> dict[str, Any]:
    """Read any version of a results file; ``results`` entries become RunResult. Raise a clear error
    naming the file for anything missing, truncated or malformed."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError as exc:
        raise ResultsFileError(f"results file not found: {path}") from exc
    except OSError as exc:
        raise ResultsFileError(f"cannot read results file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ResultsFileError(f"results file {path} is not UTF-8 text (corrupt?)") from exc
    if not text.strip():
        raise ResultsFileError(f"results file {path} is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"results file {path} is not valid JSON (truncated or corrupt?): "
                               f"{exc.msg} at line {exc.lineno}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ResultsFileError(f"results file {path} has no \"results\" list: is it a draftbench results file?")
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ResultsFileError(f"results file {path} has schema_version {version!r}, newer than this draftbench "
                               f"understands ({SCHEMA_VERSION}): upgrade draftbench")
    runs = []
    for i, item in enumerate(data["results"]):
        if not isinstance(item, dict) or not isinstance(item.get("target"), str):
            raise ResultsFileError(f"results file {path}: results[{i}] has no \"target\" label")
        draft = item.get("draft")
        if draft is not None and not isinstance(draft, str):
            raise ResultsFileError(f"results file {path}: results[{i}].draft must be a label or null")
        for key in ("mean_tps", "median_tps", "acceptance_rate", "speedup"):
            value = item.get(key)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise ResultsFileError(f"results file {path}: results[{i}].{key} must be a number or null")
        runs.append(RunResult.from_dict(item))
    data = dict(data)
    data["schema_version"] = version
    data["results"] = runs
    return data


def dump_results(meta: dict[str, Any], runs: list[RunResult]) -> dict[str, Any]:
    out = dict(meta)
    out["schema_version"] = SCHEMA_VERSION
    out["results"] = [_round(r.to_dict()) for r in runs]
    return out


def save_results(path: str, meta: dict[str, Any], runs: list[RunResult]) -> None:
    write_json_atomic(path, dump_results(meta, runs))


def _mode_for(path: str) -> int:
    """Keep an existing file's permissions; new files get the usual 0666 minus umask (not mkstemp's 0600)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_text_atomic(path: str, text: str) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``: never a half file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".draftbench-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
