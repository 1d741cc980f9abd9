"""A sweep's results file: the runs measured so far, the file's metadata, whether an earlier file may be
continued, and saving after every run."""

from __future__ import annotations

import datetime as dt
import os
import sys
from dataclasses import replace
from typing import Any

from .. import __version__
from ..core import gguf_header, machine
from ..core.redaction import visible
from ..errors import ResultsFileError
from ..results.evaluate import EvalSettings, Evaluation, affected_by, evaluate
from ..results.jsonfile import RunTexts, as_saved, load_results, save_results
from ..results.schema import FileMeta, RunResult, ShardInfo
from ..setup.config import SweepConfig
from .plan import Cell
from .sessions import ONE_SERVER_PER_SETUP

Key = tuple  # (target label, setup label or None, level, shard)
CARRIED = ("per_request_speculation", "setup_sessions", "draft_alone")  # what a later session keeps knowing


class ResultsStore:
    def __init__(self, path: str, cfg: SweepConfig, plan: list[Cell], hardware: str, shard: ShardInfo | None = None):
        self.path, self.cfg, self.plan, self.hardware, self.shard = path, cfg, plan, hardware, shard
        self.runs: dict[Key, RunResult] = {}  # evaluated: written only by put (and load)
        self.meta = FileMeta()
        self.carried: dict = {}  # what an earlier session of this sweep learnt about the server
        self.settings = EvalSettings.of(cfg.settings_record())
        self.evaluation: Evaluation = evaluate([], self.settings)
        self._identities: dict[str, str | None] = {}
        self.unsaved = False  # a run was recorded since the last save
        self.texts = RunTexts()  # each run's JSON, made again only when the run is
        self.memo: dict = {}  # figures of the evaluation made from run records that did not change since

    def identity(self, path: str | None) -> str | None:
        """A model file's identity (size and sampled content), read once per sweep."""
        if not path or not self.cfg.backend.local_files:  # other backends take hub ids, not files
            return None
        if path not in self._identities:
            self._identities[path] = gguf_header.identity(path)
        return self._identities[path]

    def load(self) -> list[RunResult]:
        """The earlier file's runs, kept when it was measured like this sweep; else an error that leaves it as it is."""
        if not os.path.exists(self.path):
            return []
        meta, runs = load_results(self.path)  # raises, leaving the file untouched, when corrupt
        runs = self._as_levels(meta, runs)
        differ = self._differences(meta, runs)
        if differ:
            raise ResultsFileError(
                f"{self.path} was measured with other settings ({', '.join(differ)}): resuming would mix "
                "incomparable numbers. Start over with --fresh, or write elsewhere with --results PATH"
            )
        self.runs.update((run.key, run) for run in runs)
        self._evaluate()
        self.carried = {k: getattr(meta, k) for k in CARRIED if getattr(meta, k)}
        return list(self.runs.values())

    def put(self, run: RunResult) -> RunResult:
        """Record a run (new, continued, or a baseline with another check) and evaluate again the runs whose figures
        it enters (``evaluate.affected_by``; the rest are kept as evaluated): the one place a run enters the store.
        Returns the run as evaluated."""
        saved = as_saved(run)
        self.runs[run.key] = saved
        self.unsaved = True
        again = affected_by(saved, self.runs.values())
        self._evaluate({k: r for k, r in self.runs.items() if k not in again})
        return self.runs[run.key]

    def _evaluate(self, kept: dict | None = None) -> None:
        self.evaluation = evaluate(self.ordered(), self.settings, kept, self.memo)
        self.runs.update((r.key, r) for r in self.evaluation.runs)

    def _as_levels(self, meta: FileMeta, runs: list[RunResult]) -> list[RunResult]:
        """An earlier file measured at one temperature (or depth 0) continued by a sweep that adds levels: its runs
        are the runs of that level ("the sweep's one temperature" is that temperature), as concurrency levels
        resume; nothing else changes."""
        levels = self.cfg.settings.levels()
        temps, depths = {lv.temperature for lv in levels}, {lv.depth for lv in levels}
        one = meta.settings.get("temperature")
        at = float(one) if isinstance(one, (int, float)) and not isinstance(one, bool) else None
        out = []
        for run in runs:
            changes: dict[str, Any] = {}
            if run.temperature is None and None not in temps and at in temps:
                changes["temperature"] = at
            if run.depth is None and None not in depths and 0 in depths:
                changes["depth"] = 0
            out.append(replace(run, **changes) if changes else run)
        return out

    def _differences(self, meta: FileMeta, runs: list[RunResult]) -> list[str]:
        saved, mine = meta.settings, self.cfg.comparable()
        differ = [k for k, v in mine.items() if k in saved and saved[k] != v and not _more_levels(k, saved[k], v)]
        if not saved and any(run.done for run in runs):
            differ.append("settings (the file records none, so nothing shows its runs were measured like these)")
        if saved and "prompts_hash" not in saved and "requests" in saved:  # measured before prompt sets were recorded
            differ.append("prompts (the file predates recorded prompt sets)")
        if saved and saved.get("axes") != mine.get("axes") and "axes" not in differ:
            differ.append("axes")
        planned = {cell.key: cell for cell in self.plan}
        for run in runs:
            cell = planned.get(run.key)
            if (
                cell is not None
                and run.done
                and run.speculation is not None
                and run.speculation.comparable() != cell.setup.speculation.comparable()
            ):
                differ.append(f"the setup of {visible(run.draft or 'baseline')!r}")
            if cell is not None and run.done:
                differ += self._changed_models(run, cell)
        differ += self._other_part(meta)
        if meta.hardware and meta.hardware != self.hardware:
            differ.append(
                f'hardware ({meta.hardware!r} in the file, {self.hardware!r} here: set "hardware" to '
                "the file's to continue it on purpose)"
            )
        return list(dict.fromkeys(differ))

    def _other_part(self, meta: FileMeta) -> list[str]:
        """A shard continues only its own file: the same part of the same plan of the same config."""
        mine, saved = self.shard, meta.shard
        if meta.shards:
            return ["the file merges shards: it is a merged result, not one to continue"]
        if (mine is None) != (saved is None):
            return [
                f"shards (the file is {saved.name if saved else 'not a shard'}, this sweep is "
                f"{mine.name if mine else 'not a shard'})"
            ]
        if mine is None or saved is None:
            return []
        out = []
        if (saved.index, saved.count) != (mine.index, mine.count):
            out.append(f"shards (the file is {saved.name}, this sweep is {mine.name})")
        if saved.config_hash != mine.config_hash or saved.plan_hash != mine.plan_hash:
            out.append(
                "the config (the shard's plan changed since the file was written: every shard must start "
                "over, or the parts would overlap)"
            )
        return out

    def _changed_models(self, run: RunResult, cell: Cell) -> list[str]:
        """A finished run whose label now names another model file (same label, other size or content)."""
        out = []
        for role, saved, path, label in (
            ("target", run.target_id, cell.target.path, run.target),
            ("draft", run.draft_id, cell.setup.speculation.draft_path, run.draft),
        ):
            now = self.identity(path)
            if saved and now and saved != now:
                out.append(f"the {role} file of {visible(label or '')!r} (measured: {saved}; now {path}: {now})")
        return out

    def start(self) -> None:
        """The file's metadata for this session, keeping what earlier sessions learnt."""
        cfg = self.cfg
        self.meta = FileMeta(
            **{
                "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(),
                "name": cfg.name,
                "hardware": self.hardware,
                "backend": cfg.backend.name,
                "model_family": cfg.model_family,
                "settings": cfg.settings_record(),
                "draftbench_version": __version__,
                "server_version": None,
                "setup_sessions": ONE_SERVER_PER_SETUP,
                "config_path": os.path.abspath(cfg.source) if os.path.exists(cfg.source) else cfg.source,
                "command_line": [os.path.basename(sys.argv[0])] + sys.argv[1:],
                "machine": machine.machine_info(),
                "shard": self.shard,
                **self.carried,
            }
        )

    def note(self, key: str, value: object) -> None:
        """Record what was learnt about the server or the models in the file's metadata (saved with the next run)."""
        self.meta = replace(self.meta, **{key: value})

    def ordered(self) -> list[RunResult]:
        """The runs in plan order, then any the file had beyond the plan."""
        keys = [cell.key for cell in self.plan]
        return [self.runs[k] for k in keys + [k for k in self.runs if k not in keys] if k in self.runs]

    def save(self) -> None:
        self.unsaved = False
        try:
            save_results(self.path, self.meta, self.ordered(), self.evaluation.computed(), self.texts)
        except OSError as exc:
            raise ResultsFileError(
                f"cannot write {self.path}: {exc.strerror}; the last saved version "
                "is intact: free space or fix permissions, then rerun to resume"
            ) from exc


def _more_levels(key: str, saved: Any, mine: Any) -> bool:
    """A level setting that was one value and is now a list holding it: levels added, not a change of the
    measured ones (the file's runs are that level's)."""
    return key == "temperature" and isinstance(mine, list) and not isinstance(saved, list) and saved in mine
