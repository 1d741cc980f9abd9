"""Conversations replayed on a real llama-server: each later turn reuses the conversation from the prompt cache
(the server's own count), a first turn never does, the first-turn mode sends one request per prompt with the cache
off as before, and a recorded request log is replayed as its conversations, by bench.py and by a sweep."""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_script

from draftbench.measure.bench import BenchConfig, run_bench
from draftbench.server import llamacpp, process
from draftbench.setup import prompt_files
from draftbench.setup.prompts import BUILTIN_CONVERSATIONS
from draftbench.setup.speculation import Speculation

DATA = os.path.join(os.path.dirname(__file__), "data", "conversations")
pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(llama_server, family):
    options = process.ServerOptions(port=0, gpu_layers=0, ctx_size=8192, ready_timeout_s=60)
    started = llamacpp.launch(process.ServerSpec(family["target"], Speculation(None), options), warn=lambda m: None).start()
    try:
        yield started.url
    finally:
        started.stop()


def test_a_replay_reuses_the_conversation_from_the_cache(server):
    agent = next(p for p in BUILTIN_CONVERSATIONS if p.recorded)
    chat = next(p for p in BUILTIN_CONVERSATIONS if not p.recorded)
    s = run_bench(BenchConfig(server, requests=2, max_tokens=12, prompts=(chat, agent), replay=True))
    assert [(q.conversation, q.turn) for q in s.requests] == [(c.id, k) for c in (chat, agent) for k in (1, 2, 3, 4)]
    assert all(q.ok and q.cached_tokens is not None for q in s.requests)
    firsts = [q for q in s.requests if q.turn == 1]
    later = [q for q in s.requests if q.turn > 1]
    assert all(q.cached_tokens == 0 for q in firsts)  # never from the conversation before
    # each later turn reuses at least the previous turn's prompt (and, sending the model's own answer, that too)
    for prev, q in zip(s.requests, s.requests[1:]):
        if q.turn > 1:
            assert prev.prompt_tokens <= q.cached_tokens < q.prompt_tokens, (prev, q)
    assert {q.history for q in later} == {"own", "recorded"} and not any("reused nothing" in w for w in s.warnings)
    own = [q for q in s.requests if q.conversation == chat.id]
    assert own[1].cached_tokens >= own[0].prompt_tokens + own[0].completion_tokens - 2  # its own answer, cached


def test_first_turn_mode_sends_one_request_per_prompt_with_the_cache_off(server):
    suite = prompt_files.load(os.path.join(DATA, "specbench.jsonl"))
    s = run_bench(BenchConfig(server, requests=4, max_tokens=12, prompts=suite))
    assert len(s.requests) == 4 and all(q.turn is None and q.conversation is None for q in s.requests)
    assert all(q.cached_tokens == 0 for q in s.requests)  # the same prompt again: still prefilled in full


def test_bench_py_replays_a_recorded_request_log_as_its_conversations(server):
    done = run_script(
        "bench.py", "--url", server, "--conversations", os.path.join(DATA, "requests.jsonl"), "--requests", "2",
        "--max-tokens", "12", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    turns = [(q["conversation"], q["turn"], q["history"]) for q in json.loads(done.stdout)["requests"]]
    assert turns == [("custom-1", 1, None), ("custom-1", 2, "recorded"), ("custom-1", 3, "recorded"), ("custom-2", 1, None)]
    table = run_script(
        "bench.py", "--url", server, "--conversations", "builtin", "--requests", "1", "--max-tokens", "8"
    )  # fmt: skip
    assert table.returncode == 0 and "Turns 2-4" in table.stdout and "from the cache" in table.stdout, table.stdout
    bad = run_script("bench.py", "--url", server, "--conversations", "builtin", "--concurrency", "2")
    assert bad.returncode != 0 and "--conversations" in bad.stderr and "Traceback" not in bad.stderr


def test_a_replay_sweep_scores_turns_and_reports_them(family, tmp_path):
    config = dict(family["config"])
    config["drafts"] = config["drafts"][:1]
    config["settings"] = {
        **config["settings"], "requests": 2, "max_tokens": 12, "ctx_size": 8192, "conversation": "replay",
        "cost_model": False, "baseline_every": 0,
    }  # fmt: skip
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config))
    done = run_script("sweep.py", "--config", str(path), "--results", str(tmp_path / "r.json"), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Workload: 2 conversations replayed" in done.stderr and "turn latency" in done.stderr
    saved = json.loads((tmp_path / "r.json").read_text())
    setup = next(r for r in saved["results"] if r["draft"])
    assert [s["turns"] for s in setup["turns"]["spans"]] == ["1", "2-4", "all"]
    assert setup["turns"]["spans"][1]["cached_share"] > 0 and setup["turns"]["spans"][-1]["latency_speedup"] > 0
    later = [q for q in setup["requests"] if q["turn"] > 1]
    assert later and all(q["cached_tokens"] > 0 for q in later)
    html = (tmp_path / "r.html").read_text()
    assert 'id="turns-table"' in html and "Conversations: the wait for each turn" in html
