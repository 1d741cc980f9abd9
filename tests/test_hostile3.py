"""Hostile input, round three (issue 51): a vLLM baseline never speculates, a results file's stored decisions and
impossible levels or speeds are not trusted, claimed counts are bounded, and the Markdown schedule shows a label's
control characters instead of obeying them. Each test is one family's reproduction and a variant."""

from __future__ import annotations

import json
import time

import pytest
from conftest import run_script
from test_schedules import _levels

from draftbench.errors import ConfigError, ShardError
from draftbench.records.requests import RequestResult
from draftbench.report import export
from draftbench.results import evaluate
from draftbench.results.jsonfile import load_results, save_results
from draftbench.results.schema import FileMeta, RunResult
from draftbench.setup.config import parse_config
from draftbench.sweep import shards

CONFIG = {"name": "x", "targets": [{"label": "t", "path": "Qwen/Qwen2.5-0.5B-Instruct"}]}


@pytest.mark.parametrize(
    "flag",
    ['--speculative-config={"method": "ngram", "num_speculative_tokens": 3}', "--speculative_config", "--speculative-model"],
)
def test_a_vllm_baseline_cannot_be_given_speculation_through_extra_args(flag):
    with pytest.raises(ConfigError) as caught:
        parse_config({**CONFIG, "backend": "vllm", "settings": {"extra_args": [flag, "x"]}}, check_files=False)
    assert any("settings.extra_args" in p and "is set by draftbench" in p for p in caught.value.problems)


def _measured(draft: str | None, tps: float) -> RunResult:
    requests = [RequestResult(f"p{i}", decode_tps=tps * (1 + 0.01 * i), completion_tokens=32) for i in range(6)]
    return RunResult("T", draft, mean_tps=tps, n_requests=6, requests=requests)


@pytest.mark.parametrize("forged", ["predicted", "slower", "tied"])
def test_a_stop_forged_on_a_measured_winner_of_an_exhaustive_sweep_is_ignored(tmp_path, forged):
    runs = [_measured(None, 100.0), _measured("winner", 180.0), _measured("other", 120.0)]
    runs[1] = RunResult(**{**runs[1].__dict__, "pruned": True, "pruned_as": forged, "pruned_vs": "other"})
    path = str(tmp_path / "r.json")
    save_results(path, FileMeta(name="x", settings={"search": "exhaustive", "requests": 6}), runs)
    _, ev = evaluate.load(path)
    assert ev.recommendations[0].use().draft == "winner"
    winner = ev.run(("T", "winner", runs[1].level, None))
    assert not winner.pruned and any(f"stopped early ({forged})" in w for w in winner.warnings)


@pytest.mark.parametrize(
    "field,value,said",
    [
        ("depth", -5, "results[1].depth"),
        ("concurrency", 0, "results[1].concurrency"),
        ("temperature", 1e9, "results[1].temperature"),
        ("mean_tps", 1e300, "a speed no server measures"),
    ],
)
def test_a_results_file_with_a_level_or_speed_no_config_allows_is_refused(tmp_path, field, value, said):
    path = tmp_path / "r.json"
    save_results(str(path), FileMeta(name="x"), [_measured(None, 100.0), _measured("d", 150.0)])
    data = json.loads(path.read_text())
    data["results"][1][field] = value
    path.write_text(json.dumps(data))
    with pytest.raises(Exception) as caught:
        load_results(str(path))
    assert said in str(caught.value) and str(path) in str(caught.value)


def test_claimed_shard_counts_are_bounded_and_a_zero_count_is_not_called_unset():
    t0 = time.monotonic()
    for text in ("1/100000000", "0/1000000000000000000000"):
        with pytest.raises(ShardError, match="more than a sweep may have"):
            shards.parse(text)
    with pytest.raises(ShardError, match="more than a sweep may have"):
        shards.from_environment({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "99999999999"}, None, 1)
    with pytest.raises(ShardError, match="must be 1 or more, got 0"):
        shards.from_environment({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "0"}, None, 1)
    assert time.monotonic() - t0 < 5


def test_a_negative_warm_pool_is_refused():
    with pytest.raises(ConfigError) as caught:
        parse_config({**CONFIG, "settings": {"warm_pool": -1}}, check_files=False)
    assert any("settings.warm_pool" in p for p in caught.value.problems)


def test_the_markdown_schedule_shows_a_labels_line_break_and_escape_instead_of_obeying_them():
    rows = _levels({1: {3: (1.5, 1.2)}, 4: {3: (1.2, 1.1)}})
    rows = [RunResult(**{**r.__dict__, "draft": "d\n# <b>x</b>\x1b[31m"}) if r.draft else r for r in rows]
    ev = evaluate.evaluate(rows)
    text = export.to_markdown(FileMeta(name="x"), ev)
    fenced = text.split("```", 1)[1].split("```", 1)[0]
    assert ev.schedules and "\x1b" not in text and "\n# <b>" not in text and "\\x1b[31m" in fenced and "\\n# " in fenced


@pytest.mark.server
def test_sweep_py_refuses_an_absurd_shard_quickly(family, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**CONFIG, "targets": [{"label": "t", "path": family["target"]}]}))
    done = run_script("sweep.py", "--config", str(path), "--dry-run", "--shard", "1/100000000", timeout=60)
    assert done.returncode != 0 and "more than a sweep may have" in done.stderr and "Traceback" not in done.stderr


def test_metrics_pages_no_vllm_writes_are_read_without_a_traceback_or_an_absurd_count():
    from draftbench.server.vllm_metrics import parse_metrics

    page = "\n".join(
        [
            "vllm:spec_decode_num_draft_tokens_total 1.2.3",
            "vllm:spec_decode_num_draft_tokens_total NaN",
            "vllm:spec_decode_num_drafts_total 10",
            'vllm:spec_decode_num_accepted_tokens_per_pos_total{position="300000000"} 5',
            'vllm:spec_decode_num_accepted_tokens_per_pos_total{position="1"} 4',
        ]
    )
    counters = parse_metrics(page)
    assert counters is not None and counters.drafts == 10 and counters.draft_tokens == 0
    assert counters.accepted_per_pos == (0.0, 4.0)  # the absurd position left out, not a 300-million-long tuple
    before = parse_metrics("vllm:spec_decode_num_draft_tokens_total 40\nvllm:spec_decode_num_accepted_tokens_total 20")
    went_down = parse_metrics("vllm:spec_decode_num_draft_tokens_total 20\nvllm:spec_decode_num_accepted_tokens_total 2")
    more_accepted = parse_metrics("vllm:spec_decode_num_draft_tokens_total 41\nvllm:spec_decode_num_accepted_tokens_total 30")
    assert went_down.minus(before) is None and more_accepted.minus(before) is None


@pytest.mark.parametrize("answer", [{"content": None}, {"choices": [1]}, [], {"tokens": ["a", {}]}])
def test_a_distribution_answer_without_tokens_or_text_is_the_servers_fault_said(answer):
    from draftbench.errors import DraftbenchError
    from draftbench.measure.distribution import _continuation

    with pytest.raises(DraftbenchError, match="has no tokens or text"):
        _continuation(answer, "http://user:secret@host:8080")
    with pytest.raises(DraftbenchError) as caught:
        _continuation(answer, "http://user:secret@host:8080")
    assert "secret" not in str(caught.value)
    assert _continuation({"tokens": [1, 2]}, "u") == "1 2" and _continuation({"choices": [{"text": " a  b"}]}, "u") == "a b"


@pytest.mark.server
def test_the_dry_run_says_when_it_could_not_estimate_memory_for_a_budget(family, tmp_path):
    short = tmp_path / "short.gguf"
    short.write_bytes(open(family["target"], "rb").read(24))  # the magic and a version, then nothing
    config = {
        **CONFIG,
        "targets": [{"label": "t", "path": str(short)}],
        "settings": {"memory_budget_mib": 1000, "gpu_layers": 0},
    }
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config))
    done = run_script("sweep.py", "--config", str(path), "--dry-run", timeout=60)
    said = done.stdout + done.stderr
    assert "memory not estimated" in said and "memory_budget_mib is not checked" in said, said[-2000:]


def test_ten_thousand_copies_of_a_shard_give_a_short_refusal():
    from draftbench.results import fleet
    from draftbench.results.schema import ShardInfo

    def meta(index: int) -> FileMeta:
        return FileMeta(name="x", shard=ShardInfo(index, 3, "c" * 16, "p" * 16, 3, [index + 1]))

    files = [(f"copy{i}_shard-1-of-3.json", meta(1), []) for i in range(10_000)]
    with pytest.raises(ShardError) as caught:
        fleet.merge(files, [])
    said = str(caught.value)
    assert "given 10000 times" in said and "and 9,997 more" in said and len(said) < 2_000
    with pytest.raises(ShardError) as caught:
        fleet.merge([("a_shard-0-of-3.json", FileMeta(name="x", shard=ShardInfo(0, 100_000, "c", "p", 3, [1])), [])], [])
    assert "and 99,989 more" in str(caught.value) and len(str(caught.value)) < 2_000


def test_a_shard_count_flag_that_disagrees_with_slurms_is_refused_not_ignored():
    env = {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4"}
    with pytest.raises(ShardError, match="--shard-count 3 disagrees with the Slurm array's 4 tasks"):
        shards.from_environment(env, 3, 1)
    assert shards.from_environment(env, 4, 1).count == 4


def test_a_memory_difference_that_rounds_to_nothing_is_never_minus_zero():
    from draftbench.core.stats import mib

    assert [mib(-0.3), mib(0.4), mib(-35.2), mib(1234.6)] == ["+0", "+0", "-35", "+1,235"]


def test_a_context_file_of_nul_bytes_is_not_taken_for_documents(tmp_path):
    (tmp_path / "docs.txt").write_bytes(b"\x00" * 4096)
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {**CONFIG, "settings": {"context_file": "docs.txt", "depth": [0, 512]}},
            str(tmp_path / "c.json"),
            str(tmp_path),
            False,
        )
    assert any("is not text" in p and "docs.txt" in p for p in caught.value.problems), caught.value.problems


@pytest.mark.server
def test_a_budget_below_the_targets_own_need_says_no_setup_can_fit(family, tmp_path):
    config = {
        **CONFIG,
        "targets": [{"label": "T", "path": family["target"]}],
        "settings": {"memory_budget_mib": 1, "gpu_layers": 0},
    }
    config["drafts"] = [{"label": "d1", "path": family["draft-1"]}]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config))
    done = run_script("sweep.py", "--config", str(path), "--dry-run", timeout=60)
    said = done.stdout + done.stderr
    assert "T (the baseline) needs about" in said and "no setup of it can fit" in said and "T + :" not in said, said[-2000:]


def _gguf(tmp_path, kvs: bytes, kv_count: int, pad: int = 0) -> str:
    """A GGUF header with ``kv_count`` key/values (raw bytes), then ``pad`` zero bytes."""
    import struct

    path = tmp_path / "h.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, kv_count) + kvs + b"\0" * pad)
    return str(path)


def _kv(key: str, vtype: int, payload: bytes) -> bytes:
    import struct

    return struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", vtype) + payload


@pytest.mark.parametrize(
    "what,count,itype",
    [("a u32 array", 2**64 - 1, 4), ("a string array", 2**60, 8), ("a u8 array beyond the file", 3_000_000, 0)],
)
def test_a_gguf_header_claiming_absurd_counts_is_refused_at_once(tmp_path, what, count, itype):
    import struct

    from draftbench.core import gguf_header
    from draftbench.errors import ModelFileError

    path = _gguf(tmp_path, _kv("x.array", 9, struct.pack("<IQ", itype, count)), 1, pad=1 << 20)
    t0 = time.monotonic()
    with pytest.raises(ModelFileError, match="GGUF header is corrupt"):
        gguf_header.read_metadata(path, keep_arrays=())
    with pytest.raises(ModelFileError, match="GGUF header is corrupt"):
        gguf_header.read_metadata(_gguf(tmp_path, b"", 2**60), keep_arrays=())
    assert time.monotonic() - t0 < 1


def test_a_negative_layer_count_gives_no_negative_memory(tmp_path):
    import struct

    from draftbench.setup import footprint
    from draftbench.setup.speculation import Speculation

    arch = _kv("general.architecture", 8, struct.pack("<Q", 5) + b"llama")
    layers = _kv("llama.block_count", 5, struct.pack("<i", -1_000_000))  # int32
    embd = _kv("llama.embedding_length", 4, struct.pack("<I", 64))
    found = footprint.estimate(_gguf(tmp_path, arch + layers + embd, 3), Speculation(None), 512)
    assert found is None or found.total_mib >= 0


def test_a_temporary_file_left_by_a_killed_writer_is_cleared_by_the_next_write(tmp_path):
    """A SIGKILL between writing and renaming leaves .draftbench-PID-*.tmp; a live writer's is never touched."""
    import subprocess
    import sys

    from draftbench.core.files import TEMP_PREFIX, write_text_atomic

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"{TEMP_PREFIX}{gone.stdout.strip()}-abc.tmp"
    live = tmp_path / f"{TEMP_PREFIX}1-abc.tmp"  # PID 1 runs for as long as the machine does
    old_style = tmp_path / f"{TEMP_PREFIX}k3j4h5.tmp"
    for f in (dead, live, old_style):
        f.write_text("partial")
    write_text_atomic(str(tmp_path / "r.json"), "{}\n")
    assert not dead.exists() and live.exists() and old_style.exists() and (tmp_path / "r.json").read_text() == "{}\n"


def test_forged_turn_and_goodput_figures_in_a_file_without_requests_are_not_ranked(tmp_path):
    """Issue 51: figures computed from requests, stored on runs that have none, are dropped on load, not trusted."""
    base = RunResult("T", None, mean_tps=100.0, n_requests=6)
    forged = RunResult("T", "d", mean_tps=90.0, n_requests=6, speedup=0.9)
    path = tmp_path / "r.json"
    save_results(str(path), FileMeta(name="x"), [base, forged])
    data = json.loads(path.read_text())
    data["results"][1]["turns"] = {"spans": [{"turns": "all", "n_turns": 6, "latency_speedup": 9.0, "latency_ci95": [8, 10]}]}
    data["results"][1]["traffic"] = {"rate": 1.0, "n_requests": 6, "goodput_ratio": 9.0, "goodput_ratio_ci95": [8, 10]}
    path.write_text(json.dumps(data))
    _, ev = evaluate.load(str(path))
    run = ev.run(("T", "d", forged.level, None))
    assert run.turns is None and run.traffic is None and ev.recommendations[0].use() is None


def test_adding_a_temperature_level_resumes_like_adding_any_other_level(tmp_path):
    """Issue 51: a file measured at one temperature, continued by a sweep at [that, another]: its runs are the
    first level's (skipped as done), nothing refused; narrowing back to one value is still a change."""
    from draftbench.sweep.plan import build_plan
    from draftbench.sweep.store import ResultsStore

    base = {**CONFIG, "targets": [{"label": "T", "path": "t.gguf"}]}
    one = parse_config({**base, "settings": {"temperature": 0}}, check_files=False)
    path = str(tmp_path / "r.json")
    done = _measured(None, 100.0)
    save_results(path, FileMeta(name="x", hardware="hw", settings=one.settings_record()), [done])
    two = parse_config({**base, "settings": {"temperature": [0, 0.8]}}, check_files=False)
    store = ResultsStore(path, two, build_plan(two), "hw")
    (run,) = store.load()
    assert run.temperature == 0.0 and run.key in {c.key for c in build_plan(two)}
    save_results(path, FileMeta(name="x", hardware="hw", settings=two.settings_record()), [run])
    with pytest.raises(Exception, match="temperature"):
        ResultsStore(path, one, build_plan(one), "hw").load()


def test_a_sigterm_swallowed_by_a_finalizer_is_raised_again_at_the_next_safe_point():
    """Seen in the suite: SIGTERM landed while a garbage-collected connection closed; Python printed the handler's
    exception ("Exception ignored in ... finalize") and the sweep ran on to exit 0. The signal is remembered."""
    import gc
    import signal

    from draftbench.errors import Interrupted
    from draftbench.server import process

    old = signal.getsignal(signal.SIGTERM)
    try:
        process.install_sigterm_handler()
        handler = signal.getsignal(signal.SIGTERM)

        class Closing:
            def __del__(self):
                handler(signal.SIGTERM, None)  # raised inside a finalizer: printed and ignored by Python

        Closing()
        gc.collect()
        with pytest.raises(Interrupted):
            process.raise_if_signalled()
    finally:
        signal.signal(signal.SIGTERM, old)
        process._SIGNALLED.clear()
