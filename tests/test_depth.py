"""Context depth as a level (issue 35): every request at depth D is prefilled with at least D tokens, none from a
cache, and a depth that does not fit ctx_size is refused before any server starts."""

from __future__ import annotations

import json

from conftest import run_script
from sweep_helpers import load, write_config

from draftbench.setup.context import at_depth, context_text
from draftbench.setup.prompts import BUILTIN


def test_contexts_are_deterministic_different_per_request_and_task_shaped():
    code = next(p for p in BUILTIN if p.category == "code")
    assert context_text(64, 0, "code") == context_text(64, 0, "code") != context_text(64, 1, "code")
    assert "=" in context_text(64, 0, "code") and "." in context_text(64, 0, "qa")
    assert context_text(64, 0, "qa").startswith("[context 1 at depth 64]")
    deep = at_depth(code, 64, 3)
    assert deep.chat()[-1]["content"].endswith(code.chat()[-1]["content"]) and at_depth(code, 0, 3) is code


def test_every_request_at_depth_is_prefilled_in_full_and_never_from_a_cache(llama_server, family, tmp_path,
                                                                          no_new_servers):
    path = write_config(family, tmp_path, requests=3, max_tokens=16, depth=[0, 300], ctx_size=2048)
    done = run_script("sweep.py", "--config", path, "--results", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    assert "@ depth 300" in done.stderr
    runs = load(str(tmp_path / "r.json"))["results"]
    assert {r["depth"] for r in runs} == {0, 300}
    deep = [r for r in runs if r["depth"] == 300]
    assert len(deep) == 1 + len(json.load(open(path))["drafts"])  # the baseline and every setup
    for run in deep:
        assert run["error"] is None and run["speedup"] is not None or run["draft"] is None
        for q in run["requests"]:
            assert q["error"] is None and q["prompt_tokens"] >= 300 and not q["cached_tokens"], q


def test_a_depth_that_does_not_fit_the_context_is_refused_naming_the_numbers(family, tmp_path):
    path = write_config(family, tmp_path, depth=[0, 4096], ctx_size=2048, max_tokens=64)
    done = run_script("sweep.py", "--config", path, "--results", str(tmp_path / "r.json"))
    assert done.returncode == 2 and "Starting server" not in done.stderr
    assert "4096 tokens of context + max_tokens 64" in done.stderr and "ctx_size 2048" in done.stderr
    assert "at least 4672" in done.stderr and not (tmp_path / "r.json").exists()
