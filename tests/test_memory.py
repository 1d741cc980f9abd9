"""What a setup costs in memory: llama-server's buffer lines read per model and device (logs recorded from
b11434), the estimate from the GGUF headers against a real server's buffers, extra memory over the baseline, and a
budget that keeps a faster setup that does not fit from being recommended, saying why."""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_script

from draftbench.core.records import from_saved
from draftbench.measure import memory
from draftbench.records.memory import Buffers, Memory
from draftbench.results import evaluate
from draftbench.results.jsonfile import load_results
from draftbench.results.recommend import recommend
from draftbench.results.schema import RunResult
from draftbench.setup import footprint
from draftbench.setup.speculation import Speculation

LOGS = os.path.join(os.path.dirname(__file__), "data", "logs")


def _log(name: str) -> str:
    with open(os.path.join(LOGS, name), encoding="utf-8") as fh:
        return fh.read()


def test_each_models_buffers_are_read_per_device_from_the_log():
    found = memory.parse_log(_log("b11434-draft-simple.log"))
    by = {(b.model, b.device): b for b in found}
    assert by[("target", "CPU_Mapped")].weights_mib == 14.26
    assert (by[("target", "CPU")].kv_mib, by[("target", "CPU")].compute_mib) == (8.0, 8.04)  # compute + output
    assert by[("draft", "CPU_Mapped")].weights_mib == 2.88 and by[("draft", "CPU")].kv_mib == 1.0
    m = memory.measured(_log("b11434-draft-simple.log"), 120.0, None)
    assert m.total_mib == pytest.approx(38.7, abs=0.05) and m.source == "llama-server log"
    assert m.of("draft") == pytest.approx(8.42) and m.part("weights") == pytest.approx(17.14)


def test_mtp_drafts_with_no_weights_of_its_own_and_a_compute_buffer_reserved_twice_counts_once():
    draft = [b for b in memory.parse_log(_log("b11434-draft-mtp.log")) if b.model == "draft"]
    assert draft == [Buffers("draft", "CPU", 0.0, 1.0, 6.03)]


def test_no_buffer_lines_leave_the_process_peak_only():
    m = memory.measured("nothing here", 512.0, None)
    assert m.buffers == () and m.total_mib is None and m.needed_mib == 512.0 and m.source == "process"
    assert from_saved(
        Memory, json.loads(json.dumps({"buffers": [{"model": "target", "device": "CPU", "weights_mib": 1.0}], "total_mib": 1.0}))
    ) == Memory((Buffers("target", "CPU", 1.0),), 1.0)


def _setup(draft: str | None, speedup: float, need: float) -> RunResult:
    ratio = (
        {"speedup": speedup, "speedup_ci95": [speedup * 0.9, speedup * 1.1], "speedup_n": 8, "speedup_design": "paired"}
        if draft
        else {}
    )
    return RunResult(
        "T",
        draft,
        mean_tps=10.0 * speedup,
        n_requests=8,
        memory=Memory(total_mib=need),
        extra_memory_mib=need - 1000.0 if draft else None,
        speculation_active=True if draft else None,
        **ratio,
    )


def test_a_setup_over_the_budget_is_measured_but_not_recommended_and_the_answer_says_why():
    runs = [_setup(None, 1.0, 1000.0), _setup("big", 1.8, 3000.0), _setup("small", 1.4, 1200.0)]
    (free,) = recommend(runs)
    assert free.use() is runs[1]
    (held,) = recommend(runs, budget_mib=2000.0)
    assert held.use() is runs[2] and held.over_budget == [runs[1]]
    sentence = held.sentence()
    assert "use small" in sentence and "+200 MiB of memory" in sentence
    assert (
        "not recommended for memory: big (+80%, needs 3,000 MiB (+2,000 MiB over the baseline)), over the "
        "budget of 2,000 MiB" in sentence
    )
    assert held.to_dict()["over_budget"] == ["big"]
    assert recommend(runs, budget_mib=5000.0)[0].over_budget == []


def test_the_estimate_is_kept_beside_the_measured_buffers_of_a_real_server(family, tmp_path):
    """A sweep of the test family: every run records its buffers, the estimate and extra memory over the
    baseline; the estimate from the headers is within 25% of what llama-server allocated."""
    config = {
        "name": "mem",
        "hardware": "box",
        "targets": [{"label": "t", "path": family["target"]}],
        "drafts": [{"label": "d1", "path": family["draft-1"]}, {"label": "ng", "spec_type": "ngram-simple"}],
        "settings": {
            "requests": 2,
            "warmup": 0,
            "max_tokens": 8,
            "gpu_layers": 0,
            "ctx_size": 512,
            "port": 0,
            "cost_model": False,
            "baseline_every": 0,
            "memory_budget_mib": 1.0,
        },
    }
    (tmp_path / "c.json").write_text(json.dumps(config))
    done = run_script("sweep.py", "--config", str(tmp_path / "c.json"), "--results", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr[-2000:]
    _, runs = load_results(str(tmp_path / "r.json"))
    for run in runs:
        m = run.memory
        assert m is not None and m.total_mib and m.peak_rss_mib and m.estimate_mib, run.draft
        assert abs(m.estimate_mib - m.total_mib) / m.total_mib < 0.25, (run.draft, m.estimate_mib, m.total_mib)
        # per buffer type: the weights llama.cpp repacked (AMX, CPU_REPACK; none on CPUs without them) as estimated
        assert m.estimate_repacked_mib is not None and abs(m.estimate_repacked_mib - m.repacked_mib) <= 0.25 * m.repacked_mib, (
            run.draft,
            m.estimate_repacked_mib,
            m.buffers,
        )
    ev = evaluate.evaluate(runs, evaluate.EvalSettings(memory_budget_mib=1.0))
    d1 = next(r for r in ev.runs if r.draft == "d1")
    assert d1.extra_memory_mib is not None and d1.extra_memory_mib > 0  # a draft's weights, KV and compute
    assert d1.memory and d1.memory.of("draft") > 0
    assert ev.recommendations[0].use() is None  # nothing fits in 1 MiB: nothing is recommended
    assert footprint.estimate_mib(family["target"], Speculation(), 512) is not None


def test_the_report_opens_with_the_answer_its_memory_and_what_to_copy_before_any_chart_or_detail():
    from records import rendered

    def run(draft, speedup, need, streams=1):
        r = _setup(draft, speedup, need)
        flags = ["--model-draft", "d.gguf", "--spec-draft-n-max", "3"] if draft else None
        return RunResult(
            "T",
            draft,
            streams,
            mean_tps=r.mean_tps,
            aggregate_tps=(r.mean_tps or 0) * streams,
            n_requests=8,
            memory=r.memory,
            speculation_active=r.speculation_active,
            speculation_flags=flags,
            speculation=Speculation("d.gguf", ("draft-simple",), draft_max=3) if draft else None,
            speedup=r.speedup,
            speedup_ci95=r.speedup_ci95,
            speedup_n=r.speedup_n,
            speedup_design=r.speedup_design,
            aggregate_speedup=r.speedup,
        )

    runs = [
        run(None, 1.0, 1000.0),
        run("d · n_max 3", 1.5, 1100.0),
        run("big", 1.9, 4000.0),
        run(None, 1.0, 1000.0, 2),
        run("d · n_max 3", 1.2, 1100.0, 2),
    ]
    html = rendered({"name": "x", "settings": {"memory_budget_mib": 2000}}, runs)
    answer = html[html.index('id="answer"') : html.index('id="throughput"')]
    assert "Use d · n_max 3: +50%" in answer and "+100 MiB of memory over the baseline" in answer
    assert "--spec-draft-n-max 3" in answer  # the flags to copy, on the first screen
    assert 'class="banner"' in answer and "big (+90%, needs 4,000 MiB" in answer  # left out for memory: a banner
    assert "draft_len_schedule: {1: 3, 2: 3}" in answer  # the serving schedule in the card
    assert html.index('id="throughput"') < html.index('class="meta"') < html.index('id="recommendations"')
    assert 'id="memory-table"' in html and html.count('id="memory"') == 1
