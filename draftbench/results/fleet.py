"""A sweep measured by a fleet: the shards' files merged into one (every check first, so a refused merge writes
nothing), and the nodes' baselines compared so a slow node shows. Pure: files' contents in, a merged file's
contents or figures out."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, replace

from ..core import stats
from ..core.redaction import visible
from ..errors import ShardError
from ..setup.levels import Level, where
from . import comparison
from .schema import FileMeta, RunResult

Shard = tuple[str, FileMeta, list[RunResult]]  # a shard's file: its path, its metadata, its runs


def merge(files: list[Shard], command_line: list[str]) -> tuple[FileMeta, list[RunResult]]:
    """One results file from the shards of one sweep; a :class:`ShardError` naming every problem otherwise."""
    problems = _problems(files)
    if problems:
        raise ShardError("cannot merge these shards:\n" + "\n".join(f"  - {p}" for p in problems))
    files = sorted(files, key=lambda f: f[1].shard.index)  # type: ignore[union-attr]  # every file merged is a shard's: its shard is set (refused before)
    first = files[0][1]
    infos = [
        replace(meta.shard, host=(meta.machine or {}).get("hostname"), hardware=meta.hardware, file=path)
        for path, meta, _ in files
    ]  # type: ignore[type-var]  # every file merged is a shard's: its shard is set (refused before)
    meta = replace(
        first,
        shard=None,
        shards=infos,
        timestamp=dt.datetime.now(dt.timezone.utc).isoformat(),
        command_line=command_line,
        warnings=list(dict.fromkeys(w for _, m, _ in files for w in m.warnings)),
        draft_alone={k: v for _, m, _ in reversed(files) for k, v in m.draft_alone.items()},
    )
    order = list(dict.fromkeys(r.target for _, _, runs in files for r in runs))
    runs = [replace(r, shard=m.shard.index) for _, m, rs in files for r in rs]  # type: ignore[union-attr]  # every file merged is a shard's: its shard is set (refused before)
    return meta, sorted(runs, key=lambda r: (order.index(r.target), r.draft is not None, r.shard))


def _problems(files: list[Shard]) -> list[str]:
    """Everything that keeps these files from being one sweep's shards, each with what to do."""
    if not files:
        return ["no shard files given"]
    loose = [path for path, meta, _ in files if meta.shard is None]
    if loose:
        return [
            f"{visible(p)} is not a shard's file (it records no 'shard'): merge files written with --shard "
            "or by a job array; compare whole sweeps with --compare"
            for p in loose
        ]
    malformed = [p for p, meta, _ in files if not _well_formed(meta.shard)]
    if malformed:
        return [
            f"{visible(p)}: its shard record is malformed (index, count, hashes and cells must be a shard's as "
            "draftbench writes them): was the file edited? rerun that shard's task"
            for p in malformed[:5]
        ]
    machines = _machines(files)
    if machines:  # another machine's shard: the config may differ too, but the hardware is what to say
        return machines
    out = []
    shards = [(path, meta.shard) for path, meta, _ in files]
    for what, value in (("config", lambda s: s.config_hash), ("plan", lambda s: s.plan_hash), ("shard count", lambda s: s.count)):
        seen = Counter(value(s) for _, s in shards)  # type: ignore[arg-type]  # every file merged is a shard's: its shard is set (refused before)
        if len(seen) > 1:
            common = seen.most_common(1)[0][0]
            odd = ", ".join(visible(p) for p, s in shards if value(s) != common)  # type: ignore[arg-type]  # every file merged is a shard's: its shard is set (refused before)
            out.append(
                f"{odd}: from another {what} than the others ({what}s {', '.join(map(str, seen))}): merge "
                "only the shards of one sweep"
            )
    if out:
        return out
    count = shards[0][1].count  # type: ignore[union-attr]  # every file merged is a shard's: its shard is set (refused before)
    by_index: dict[int, list[str]] = {}
    for path, s in shards:
        by_index.setdefault(s.index, []).append(path)  # type: ignore[union-attr]  # every file merged is a shard's: its shard is set (refused before)
    twice = [(index, paths) for index, paths in sorted(by_index.items()) if len(paths) > 1]
    out += [f"shard {index} of {count} is given {len(paths)} times ({_few(paths)}): keep one" for index, paths in twice[:5]]
    out += [f"and {len(twice) - 5:,} more shards given more than once"] if len(twice) > 5 else []
    missing = [i for i in range(count) if i not in by_index]
    if missing:
        listed = ", ".join(map(str, missing[:10])) + (f" and {len(missing) - 10:,} more" if len(missing) > 10 else "")
        out.append(
            f"shard{'s' if len(missing) > 1 else ''} {listed} of {count} missing: "
            f"give {'their' if len(missing) > 1 else 'its'} file (named *_shard-{missing[0]}-of-{count}.json "
            "by default), or wait until its task has finished"
        )
    return out or _identities(files) or _coverage(files)


def _well_formed(shard: object) -> bool:
    """A shard record of the right kinds: whole numbers where counts are, strings where hashes are."""

    def whole(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    return (
        shard is not None
        and whole(getattr(shard, "index", None))
        and whole(getattr(shard, "count", None))
        and whole(getattr(shard, "plan_cells", None))
        and isinstance(getattr(shard, "config_hash", None), str)
        and isinstance(getattr(shard, "plan_hash", None), str)
        and isinstance(getattr(shard, "cells", None), list)
        and all(whole(c) for c in getattr(shard, "cells", []))
    )


def _identities(files: list[Shard]) -> list[str]:
    """One experiment: each target and each setup's draft is one model file on every node (its identity, size and
    hash, as resume checks it), and every setup run of a shard has that shard's baseline of its target (a run
    whose target was renamed has none)."""
    out = []
    for what, label, ident in (
        ("target", lambda r: r.target, lambda r: r.target_id),
        ("draft", lambda r: r.draft, lambda r: r.draft_id),
    ):
        seen: dict[str, dict[str, list[str]]] = {}
        for path, meta, runs in files:
            node = (meta.machine or {}).get("hostname", "?")
            for r in runs:
                if ident(r) and label(r) is not None:
                    seen.setdefault(label(r), {}).setdefault(ident(r), []).append(f"{visible(path)} (node {visible(str(node))})")
        for name, ids in seen.items():
            if len(ids) > 1:
                said = "; ".join(f"{i} in {', '.join(dict.fromkeys(where_))}" for i, where_ in ids.items())
                out.append(
                    f"{what} {visible(name)} is a different model file on different nodes ({said}): copy the same "
                    "file to every node and rerun the shards that measured another"
                )
    for path, _, runs in files:
        bases = {r.key for r in runs if r.draft is None}
        for r in runs:
            if r.draft is not None and r.baseline_key not in bases and r.error is None:
                out.append(
                    f"{visible(path)}: its run of {visible(r.where)} + {visible(r.draft)} has no baseline of "
                    f"{visible(r.target)} in that file: its runs do not match its cells (was the file edited?)"
                )
    return out


def _coverage(files: list[Shard]) -> list[str]:
    """Every cell of the plan in some shard; each setup in one; each shard's cells measured."""
    out = []
    plan = files[0][1].shard.plan_cells  # type: ignore[union-attr]  # every file merged is a shard's: its shard is set (refused before)
    covered = {i for _, m, _ in files for i in m.shard.cells}  # type: ignore[union-attr]  # every file merged is a shard's: its shard is set (refused before)
    missing, beyond = sorted(set(range(1, plan + 1)) - covered), sorted(covered - set(range(1, plan + 1)))
    if missing:
        out.append(
            f"cells {', '.join(map(str, missing[:10]))}{f' and {len(missing) - 10:,} more' if len(missing) > 10 else ''} "
            f"of the plan's {plan} are in no shard: "
            "the shards split the plan differently; rerun them with the same config and draftbench version"
        )
    for path, meta, _ in files:
        odd = sorted(set(meta.shard.cells) & set(beyond))  # type: ignore[union-attr]  # every file merged is a shard's
        if odd:
            out.append(
                f"{visible(path)}: cells {', '.join(map(str, odd[:10]))} are beyond the plan's {plan}: was the file edited?"
            )
    owners: dict[tuple, list[int]] = {}
    for _, meta, runs in files:
        for r in runs:
            if r.draft is not None:
                owners.setdefault((r.target, r.draft, r.level), []).append(meta.shard.index)  # type: ignore[union-attr]  # every file merged is a shard's: its shard is set (refused before)
        left = len(meta.shard.cells) - sum(1 for r in runs if not r.in_progress)  # type: ignore[union-attr]  # every file merged is a shard's: its shard is set (refused before)
        if left > 0:
            out.append(
                f"{visible(_path(files, meta))}: {left} of its {len(meta.shard.cells)} cells not measured "  # type: ignore[union-attr]  # every file merged is a shard's: its shard is set (refused before)
                "yet: rerun its task (the same command resumes it), then merge"
            )
    for (target, draft, level), where_ in owners.items():
        if len(where_) > 1:
            out.append(
                f"{visible(where(target, level))} + {visible(draft)} measured by shards "
                f"{', '.join(map(str, where_))}: each setup belongs to one shard"
            )
    return out


def _few(paths: list[str], most: int = 3) -> str:
    """Some paths, then how many more: a message names a few files, not ten thousand."""
    shown = ", ".join(visible(p) for p in paths[:most])
    return shown + (f" and {len(paths) - most:,} more" if len(paths) > most else "")


def _path(files: list[Shard], meta: FileMeta) -> str:
    return next(p for p, m, _ in files if m is meta)


def _machines(files: list[Shard]) -> list[str]:
    """One experiment: the same hardware, llama-server build and settings on every node."""
    out = []
    for what, value in (
        ("hardware", lambda m: m.hardware),
        ("server version", lambda m: m.server_version),
        ("settings", lambda m: m.settings),
    ):
        values = [value(m) for _, m, _ in files]
        if any(v != values[0] for v in values):
            listed = "; ".join(
                f"shard {m.shard.index} on {(m.machine or {}).get('hostname', '?')}: "  # type: ignore[union-attr]  # every file merged is a shard's: its shard is set (refused before)
                f"{visible(str(value(m)))[:80]}"
                for _, m, _ in files
            )
            out.append(
                f"the shards were measured with different {what} ({listed}): their speedups are not one "
                "experiment; compare the files side by side with --compare instead"
            )
    return out


@dataclass(frozen=True)
class NodeBaseline:
    """One node's baseline of a target at a level, against the first node's (paired on the same prompts)."""

    target: str
    level: Level
    shard: int
    reference: int  # the shard compared with (the lowest that measured this baseline)
    decode_tps: float
    ratio: stats.Ratio | None  # None for the reference itself

    def slower(self, resolution: float) -> bool:
        """Beyond the resolution and beyond noise."""
        r = self.ratio
        return r is not None and r.value < 1 - resolution and r.ci95 is not None and r.ci95[1] < 1.0

    def sentence(self) -> str:
        assert self.ratio is not None
        return (
            f"{where(self.target, self.level)}: shard {self.shard}'s baseline ran at {self.decode_tps:.2f} tok/s, "
            f"{stats.ratio_text(self.ratio)} against shard {self.reference}'s"
        )


def nodes(runs: list[RunResult]) -> list[NodeBaseline]:
    """Each target's baselines, one per shard, each against the lowest shard's: empty unless runs come from two
    or more shards."""
    if len({r.shard for r in runs}) < 2:
        return []
    out = []
    bases = [r for r in runs if r.draft is None and r.done and r.mean_tps]
    for key in dict.fromkeys((r.target, r.level) for r in bases):
        mine = sorted((r for r in bases if (r.target, r.level) == key), key=lambda r: r.shard or 0)
        ref = mine[0]
        for r in mine:
            ratio = None if r is ref else comparison.versus(r, ref)
            out.append(NodeBaseline(r.target, r.level, r.shard or 0, ref.shard or 0, r.mean_tps or 0.0, ratio))
    return out
