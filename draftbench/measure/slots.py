"""Acceptance per server slot, from llama-server's log: each finished request prints its slot, its task and (when
it drafted) its accepted and drafted tokens; the last N finished tasks are a run's N requests (a server measures
one run at a time). A slot that accepts far less than the others (a known failure of a second parallel slot) is
flagged."""

from __future__ import annotations

import re
import statistics

from ..records.requests import SlotDrafts

_DONE = re.compile(r"slot print_timing: id\s+(\d+) \| task (\d+) \|\s+total time")
_DRAFTS = re.compile(
    r"slot print_timing: id\s+(\d+) \| task (\d+) \| draft acceptance = [\d.]+ \(\s*(\d+) accepted /\s*(\d+) generated\)"
)
FAR_BELOW = 0.5  # a slot under half the other slots' median acceptance is flagged
ENOUGH = 20  # drafted tokens a slot needs before its acceptance is judged


def per_slot(log: str, n: int) -> list[SlotDrafts]:
    """The last ``n`` finished requests of the log, summed by slot ([] when the log says nothing of slots)."""
    order: list[int] = []
    slot_of: dict[int, int] = {}
    drafts: dict[int, tuple[int, int]] = {}
    for line in log.splitlines():
        if (m := _DONE.search(line)) is not None:
            task = int(m.group(2))
            slot_of[task] = int(m.group(1))
            order.append(task)
        elif (m := _DRAFTS.search(line)) is not None:
            drafts[int(m.group(2))] = (int(m.group(3)), int(m.group(4)))
    mine = order[-n:] if n else []
    out: dict[int, list[int]] = {}
    for task in mine:
        accepted, drafted = drafts.get(task, (0, 0))
        row = out.setdefault(slot_of[task], [0, 0, 0])
        row[0], row[1], row[2] = row[0] + 1, row[1] + drafted, row[2] + accepted
    return [SlotDrafts(slot, *row) for slot, row in sorted(out.items())]


def lagging(slots: list[SlotDrafts]) -> list[str]:
    """A warning per slot whose acceptance is far below the other slots' ([] when none is, or with one slot)."""
    out = []
    for s in slots:
        others = [o.acceptance_rate for o in slots if o is not s and o.acceptance_rate is not None and o.drafted >= ENOUGH]
        mine = s.acceptance_rate
        if mine is None or s.drafted < ENOUGH or not others or mine >= FAR_BELOW * statistics.median(others):
            continue
        out.append(
            f"slot {s.slot} accepted {mine:.0%} of its {s.drafted} drafted tokens, the other slots "
            f"{statistics.median(others):.0%}: speculation is failing on that slot (a known fault of parallel slots in "
            "some llama.cpp builds); try another build or fewer slots (--parallel)"
        )
    return out
