"""Step costs from a running llama-server, for the cost model.

Drafting time per pass is read, where the build reports it, from the speculative statistics that
llama-server prints at trace verbosity (``-lv 4``) after each request: cumulative draft calls and
milliseconds spent drafting (``#calls(b,g,a)`` and ``dur(b,g,a)``). The difference between two
such lines is the drafting done in between, measured in-process, next to the target. Newer builds add
the acceptance of each draft position (``#acc rate/pos``, accepted tokens at that position per verification):
times the verifications, the accepted counts by position between two lines.

``v(k)``, the cost of one forward pass over a batch of k tokens relative to a single token, is read
from the server's own prompt timings: a k-token prompt (token ids, no chat template, no prompt
cache) is one batch. Each size is measured ``repeats`` times in interleaved order and the median
kept, so v(1) = 1 by construction; a larger batch never costs less than a smaller one (noise
that says otherwise is flattened by a running maximum). Note: a prompt batch computes logits for its last token only,
where a verification batch needs all of them; for large vocabularies v(k) is a slight underestimate.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass

import requests

from ..records.probes import PositionCounts
from ..server import process

BATCH_SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 17)
REPEATS = 5
VERIFY_COST_TOKENS = len(BATCH_SIZES) * REPEATS  # each prompt batch generates one token
FILLER = " ".join(["the quick brown fox jumps over the lazy dog and keeps on running"] * 4)


def _post(session: requests.Session, url: str, body: dict, headers: dict, timeout_s: float) -> dict:
    resp = session.post(url, json=body, headers=headers, timeout=timeout_s)
    resp.raise_for_status()
    return resp.json()


def verify_costs(
    url: str, api_key: str | None = None, timeout_s: float = 120.0, sizes: tuple[int, ...] = BATCH_SIZES, repeats: int = REPEATS
) -> dict[int, float] | None:
    """{k: v(k)} for a llama-server at ``url``; None when the server does not give prompt timings."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    url = url.rstrip("/")
    try:
        with requests.Session() as session:
            tokens = _post(session, url + "/tokenize", {"content": FILLER}, headers, timeout_s).get("tokens") or []
            if len(tokens) < max(sizes):
                return None
            times: dict[int, list[float]] = {k: [] for k in sizes}
            for _ in range(repeats):
                for k in sizes:
                    body = {"prompt": tokens[:k], "n_predict": 1, "cache_prompt": False, "temperature": 0}
                    timings = _post(session, url + "/completion", body, headers, timeout_s).get("timings") or {}
                    if timings.get("prompt_n") != k or not timings.get("prompt_ms"):
                        return None
                    times[k].append(float(timings["prompt_ms"]))
    except (requests.RequestException, ValueError):
        return None
    step = statistics.median(times[sizes[0]])
    if step <= 0:
        return None
    costs, floor = {}, 0.0
    for k in sizes:
        floor = max(floor, statistics.median(times[k]) / step)
        costs[k] = floor
    return costs


_STATS_RE = re.compile(
    r"statistics\s+(\S+): #calls\(b,g,a\) =\s*(\d+)\s+(\d+)\s+(\d+).*?"
    r"(#acc rate/pos = \(([^)]*)\),\s*)?"
    r"dur\(b,g,a\) =\s*([\d.]+),\s*([\d.]+),\s*([\d.]+) ms"
)


@dataclass(frozen=True)
class DraftStats:
    """Cumulative drafting of one speculative implementation since the server started."""

    spec_type: str
    draft_calls: int
    draft_ms: float
    accept_calls: int = 0  # verifications (target passes with a draft)
    accepted_by_position: tuple[int, ...] | None = None  # None: the build does not report positions
    lines: int = 0  # statistics lines so far (one per request that ended)


def last_draft_stats(log_text: str) -> DraftStats | None:
    """The last statistics line of a server log (one implementation only; None otherwise or if absent)."""
    found = _STATS_RE.findall(log_text)
    if not found or len({m[0] for m in found}) != 1:
        return None
    kind, _, calls, accepts, reported, rates, begin_ms, draft_ms, accept_ms = found[-1]
    by_position = tuple(round(float(r) * int(accepts)) for r in rates.split(",") if r.strip()) if reported else None
    return DraftStats(
        kind, int(calls), float(begin_ms) + float(draft_ms) + float(accept_ms), int(accepts), by_position, len(found)
    )


def read_log(path: str | None, limit: int = -1) -> str:
    """A server's log (its first ``limit`` bytes where given); "" where there is none."""
    return process.read_head(path, limit) if path else ""


def drafting_ms_per_pass(before: DraftStats | None, after: DraftStats | None) -> float | None:
    """Milliseconds of drafting per target pass between two statistics lines."""
    if after is None:
        return None
    calls = after.draft_calls - (before.draft_calls if before else 0)
    spent = after.draft_ms - (before.draft_ms if before else 0.0)
    return spent / calls if calls > 0 and spent >= 0 else None


def position_counts(before: DraftStats | None, after: DraftStats | None) -> PositionCounts | None:
    """The verifications and the accepted tokens at each draft position between two statistics lines; None
    where the build does not report positions."""
    if after is None or after.accepted_by_position is None:
        return None
    was = before.accepted_by_position or () if before else ()
    passes = after.accept_calls - (before.accept_calls if before else 0)
    now = after.accepted_by_position
    accepted = [now[i] - (was[i] if i < len(was) else 0) for i in range(len(now))]
    return PositionCounts(passes, tuple(accepted)) if passes > 0 and min(accepted, default=0) >= 0 else None


def wait_for_stats(log_path: str | None, before: DraftStats | None, requests: int, timeout_s: float = 2.0) -> DraftStats | None:
    """The statistics once the server has printed them for ``requests`` more requests than ``before`` (it writes
    them a moment after each reply), or the last ones after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    wanted = (before.lines if before else 0) + requests
    while True:
        now = last_draft_stats(read_log(log_path))
        if (now is not None and now.lines >= wanted) or time.monotonic() > deadline:
            return now
        time.sleep(0.05)
