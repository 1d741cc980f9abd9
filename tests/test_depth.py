"""Context depth as a level (issue 35): every request at depth D is prefilled with at least D tokens, none from a
cache, and a depth that does not fit ctx_size is refused before any server starts."""

from __future__ import annotations

import json

import pytest
from conftest import run_script
from sweep_helpers import load, sweep_until, write_config

from draftbench.setup.context import Contexts, Sizing
from draftbench.setup.context import synthetic_text as context_text
from draftbench.setup.prompts import BUILTIN

at_depth = Contexts().at_depth


def test_contexts_are_deterministic_different_per_request_and_task_shaped():
    code = next(p for p in BUILTIN if p.category == "code")
    assert context_text(64, 0, "code") == context_text(64, 0, "code") != context_text(64, 1, "code")
    assert "=" in context_text(64, 0, "code") and "." in context_text(64, 0, "qa")
    assert context_text(64, 0, "qa").startswith("[context 1 at depth 64]")
    deep = at_depth(code, 64, 3)
    assert deep.chat()[-1]["content"].endswith(code.chat()[-1]["content"]) and at_depth(code, 0, 3) is code


def test_every_request_at_depth_is_prefilled_in_full_and_never_from_a_cache(llama_server, family, tmp_path, no_new_servers):
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


def test_a_sweep_stopped_during_the_second_depth_resumes_without_measuring_the_first_again(
    llama_server, family, tmp_path, no_new_servers
):
    path = write_config(
        family,
        tmp_path,
        drafts=[("1-layer", "draft-1")],
        requests=6,
        max_tokens=256,
        depth=[0, 200],
        ctx_size=2048,
        cost_model=False,
        baseline_every=0,
    )  # 6 long requests: seconds to stop it in
    results = str(tmp_path / "r.json")
    code, err = sweep_until(["--config", path, "--results", results], ["[2/4]", "Same server, now at depth 200"])
    assert code == 130, err
    first = load(results)["results"]
    assert [(r["draft"], r["depth"]) for r in first] == [(None, 0)]  # the second depth was not finished: not saved
    resumed = run_script("sweep.py", "--config", path, "--results", results)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.count("done earlier, skipped") == 1
    runs = load(results)["results"]
    assert [(r["draft"], r["depth"]) for r in runs] == [(None, 0), (None, 200), ("1-layer", 0), ("1-layer", 200)]
    assert runs[0]["requests"] == first[0]["requests"]  # the first depth kept as measured, not again
    assert runs[3]["speedup"] is not None and runs[3]["requests"][0]["prompt_tokens"] >= 200  # against depth 200


def test_a_depth_that_does_not_fit_the_context_is_refused_naming_the_numbers(family, tmp_path):
    path = write_config(family, tmp_path, depth=[0, 4096], ctx_size=2048, max_tokens=64)
    done = run_script("sweep.py", "--config", path, "--results", str(tmp_path / "r.json"))
    assert done.returncode == 2 and "Starting server" not in done.stderr
    assert "4096 tokens of context + max_tokens 64" in done.stderr and "ctx_size 2048" in done.stderr
    assert "at least 4672" in done.stderr and not (tmp_path / "r.json").exists()


# --- the crossover and the depth view, on hand-made runs evaluated as a file's are ---------------------------------


def _reqs(tps: list[float], depth: int) -> list:
    from draftbench.records.requests import RequestResult

    return [
        RequestResult(f"p{i}", "code", decode_tps=v, completion_tokens=64, prompt_tokens=depth + 40) for i, v in enumerate(tps)
    ]


def _runs(gains: dict[int, list[float]], concurrency: int = 1) -> list:
    """A baseline at every depth and one setup whose per-request speedups at each depth are given."""
    from draftbench.results.schema import RunResult

    base_tps = [100.0, 80.0, 120.0, 90.0, 110.0, 95.0]
    out = []
    for d, ratios in gains.items():
        out.append(
            RunResult("T", None, concurrency, depth=d, mean_tps=sum(base_tps) / 6, n_requests=6, requests=_reqs(base_tps, d))
        )
        tps = [b * g for b, g in zip(base_tps, ratios)]
        out.append(
            RunResult(
                "T",
                "d",
                concurrency,
                depth=d,
                mean_tps=sum(tps) / 6,
                n_requests=6,
                requests=_reqs(tps, d),
                acceptance_rate=0.5,
                speculation_active=True,
            )
        )
    return out


def test_the_crossover_is_interpolated_on_log_context_between_the_depths_that_pay_and_do_not():
    import math

    from draftbench.results.evaluate import evaluate

    ev = evaluate(
        _runs(
            {
                0: [1.5, 1.52, 1.48, 1.5, 1.51, 1.49],
                1024: [1.2, 1.22, 1.18, 1.2, 1.21, 1.19],
                3072: [0.95, 1.05, 0.9, 1.1, 1.0, 0.97],
            }
        )
    )
    (c,) = ev.crossovers
    assert c.kind == "at" and [p.pays for p in c.points] == [True, True, False]
    a, b = c.points[1], c.points[2]  # by hand: where log(low) reaches 0 on log(depth + 40 prompt tokens)
    x = math.log(a.context_tokens) + (math.log(b.context_tokens) - math.log(a.context_tokens)) * math.log(a.low) / (
        math.log(a.low) - math.log(b.low)
    )
    assert c.depth_tokens == pytest.approx(math.exp(x) - 40) and 1024 < c.depth_tokens < 3072
    assert "stops paying at about depth" in c.text() and "not at 3,072" in c.text()
    assert c.to_dict()["depths"] == [0, 1024, 3072] and c.to_dict()["kind"] == "at"


def test_a_setup_paying_everywhere_or_nowhere_says_so_and_a_tie_is_not_paying():
    from draftbench.results.evaluate import evaluate

    (every,) = evaluate(_runs({0: [1.5] * 6, 4096: [1.3, 1.31, 1.29, 1.3, 1.3, 1.3]})).crossovers
    assert every.kind == "beyond" and every.depth_tokens is None and "beyond 4,096" in every.text()
    (tie,) = evaluate(_runs({0: [0.9, 1.1, 1.0, 1.05, 0.95, 1.0], 512: [1.0, 1.1, 0.9, 1.0, 1.02, 0.98]})).crossovers
    assert tie.kind == "never" and "does not pay at any depth" in tie.text()
    (late,) = evaluate(_runs({0: [0.9, 1.1, 1.0, 1.05, 0.95, 1.0], 512: [1.4] * 6})).crossovers
    assert late.kind == "from" and "pays from depth 512" in late.text()


def test_the_report_and_the_results_file_carry_the_crossover(tmp_path):
    from draftbench.report import sweep_page
    from draftbench.results import evaluate as ev_mod
    from draftbench.results.jsonfile import save_results
    from draftbench.results.schema import FileMeta

    runs = _runs({0: [1.5] * 6, 1024: [1.2, 1.22, 1.18, 1.2, 1.21, 1.19], 3072: [0.95, 1.05, 0.9, 1.1, 1.0, 0.97]})
    ev = ev_mod.evaluate(runs)
    path = str(tmp_path / "r.json")
    save_results(path, FileMeta(name="n", hardware="hw", settings={"depth": [0, 1024, 3072]}), list(ev.runs), ev.computed())
    saved = json.load(open(path))
    assert saved["crossovers"][0]["kind"] == "at" and 1024 < saved["crossovers"][0]["depth_tokens"] < 3072
    meta, again = ev_mod.load(path)  # computed again on load, the same
    assert again.crossovers[0].depth_tokens == pytest.approx(saved["crossovers"][0]["depth_tokens"], rel=1e-3)
    html = sweep_page.render(meta, again)
    assert 'id="depth-speedup"' in html and 'id="depth-ttft"' in html and 'id="crossovers"' in html
    data = sweep_page.chart_data(list(again.runs), again.crossovers)["depth"]
    line = next(t for t in data["speedup"] if t["name"] == "d")
    assert line["x"] == [0, 1024, 3072] and line["y"][0] == pytest.approx(50.0)
    mark = next(t for t in data["speedup"] if t["name"] == "crossover")
    assert 1024 < mark["x"][0] < 3072 and mark["y"] == [0]
    assert {t["name"] for t in data["ttft"]} == {"d", "baseline (no draft)"}
    assert html.count('id="by-depth"') == 1 and 'id="levels"' not in html  # one table of the runs, by depth


def test_several_concurrencies_give_a_depth_by_concurrency_table_of_the_setup_to_use():
    from draftbench.report import depth_view
    from draftbench.results.evaluate import evaluate
    from draftbench.sweep.console import evaluation_lines

    runs = _runs({0: [1.5] * 6, 2048: [0.9, 1.1, 1.0, 1.05, 0.95, 1.0]}) + _runs({0: [0.8] * 6, 2048: [0.8] * 6}, 4)
    ev = evaluate(runs)
    table = depth_view.best_table(ev.recommendations)
    assert "<th>1 stream</th><th>4 streams</th>" in table
    assert "<tr><th>depth 0</th><td>d +50%</td><td>no draft</td></tr>" in table
    assert "<tr><th>depth 2,048</th><td>no draft</td><td>no draft</td></tr>" in table
    lines = evaluation_lines(ev)
    assert any(
        line.startswith("Crossover: T + d: does not pay at depth 0") or line.startswith("Crossover: T + d: stops paying")
        for line in lines
    ), lines
    assert any(line.startswith("By level: T: ") and "depth 2048: no draft" in line for line in lines), lines
    assert depth_view.best_table(evaluate(_runs({0: [1.5] * 6, 2048: [1.5] * 6})).recommendations) == ""


# --- the user's own context: a context file, or a prompt's own document ----------------------------------------


def test_a_context_file_gives_each_request_its_own_start_and_a_prompt_its_own_document():
    from draftbench.setup.context import Sizing, documents
    from draftbench.setup.prompts import Prompt

    docs = documents("First document about rivers.\n---\nSecond one, on mountains.\n\n---\n\n")
    assert docs == ("First document about rivers.", "Second one, on mountains.")
    ctx, plain = Contexts(docs), Prompt("q1", "qa", "Where does it flow?")
    texts = [ctx.text(512, i, plain, Sizing(user=300)) for i in range(6)]
    assert len(set(texts)) == 6 and all(len(t.split("\n", 1)[1]) == 301 for t in texts)  # 300 chars, then a newline
    assert len({t.split("\n", 1)[1] for t in texts}) >= 5  # at least 5 different contexts, markers aside
    own = Prompt("q2", "qa", "Summarise it.", context="My own long report.")
    assert ctx.text(512, 0, own, Sizing(user=40)).split("\n", 1)[1].startswith("My own long report.\n\nFirst")
    assert Contexts().text(512, 0, own, Sizing(user=19)).endswith("My own long report.\n")  # no file: its own alone


def test_contexts_are_sized_with_the_tokenizer_for_each_kind_of_text():
    from draftbench.setup.prompts import Prompt

    def count(text: str) -> int:  # a tokenizer of 3 characters a token, and a token for every symbol of code
        return len(text) // 3 + sum(text.count(c) for c in "=(,)_")

    ctx = Contexts(("lorem ipsum dolor sit amet " * 50,))
    sizing = ctx.sized(600, (Prompt("q", "qa", "x"),), count)
    assert sizing.code is None and sizing.prose is None and sizing.user is not None
    assert 600 <= count(ctx.text(600, 3, Prompt("q", "qa", "x"), sizing)) <= 600 * 1.1
    code, prose = Prompt("b", "code", "y"), Prompt("c", "qa", "z")
    mixed = Contexts().sized(400, (Prompt("a", "qa", "x", context="doc " * 200), code, prose), count)
    assert mixed.user is not None and mixed.code is not None and mixed.prose is not None and mixed.code < mixed.prose
    for p in (code, prose):  # each kind holds the depth without overshooting it: the code is not sized as prose
        assert 400 <= count(Contexts().text(400, 1, p, mixed)) <= 400 * 1.15, p.category
    assert Contexts().sized(100, BUILTIN[:2], lambda _t: None) == Sizing()  # no tokenizer: unsized


def test_bad_context_inputs_are_named_with_the_fix(tmp_path):
    from draftbench.errors import ConfigError
    from draftbench.setup.config import parse_config
    from draftbench.setup.prompt_files import PromptFileError, parse

    with pytest.raises(PromptFileError) as err:
        parse('{"prompt": "a", "context": 3}\n', "p.jsonl")
    assert 'p.jsonl:1: "context" must be a string' in str(err.value.problems)
    assert parse('{"prompt": "a", "context": " doc "}\n', "p.jsonl")[0].context == "doc"
    (tmp_path / "empty.txt").write_text("---\n\n")
    for name, said in (("missing.txt", "cannot read"), ("empty.txt", "holds no text")):
        with pytest.raises(ConfigError) as err:
            parse_config(
                {"targets": [{"label": "t", "path": "t.gguf"}], "settings": {"context_file": name}},
                str(tmp_path / "c.json"),
                str(tmp_path),
                check_files=False,
            )
        assert any(p.startswith("settings.context_file: ") and said in p and name in p for p in err.value.problems)
