"""The output-health detector on a fixture of real-looking completions: echoes, template markers and loops are
flagged; healthy code, JSON, tables, SQL and summaries that quote their text are not."""

from __future__ import annotations

import json
import os

import pytest
from records import evaluated, rendered

from draftbench.core import health

CASES = json.load(open(os.path.join(os.path.dirname(__file__), "data", "outputs", "completions.json"), encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["kind"] for c in CASES])
def test_each_completion_gets_exactly_its_problems(case):
    found = health.check(case["text"], case["prompt"]).problems
    for flag in case["flags"]:
        assert any(flag in p for p in found), (flag, found)
    assert len(found) == len(case["flags"]), found


def test_repeat_share_by_hand():
    loop = ("a b c d e f g h " * 4).split()  # 32 words: the 24 after the first 8 repeat an earlier 8-gram
    assert health.repeat_share(loop) == pytest.approx(24 / 32)
    assert health.repeat_share([str(i) for i in range(40)]) == 0.0
    once = [str(i) for i in range(20)] + [str(i) for i in range(8)]  # the first 8 words again at the end
    assert health.repeat_share(once) == pytest.approx(8 / 28)


def test_a_run_is_degenerate_when_half_of_its_completions_are():
    echo = ("the completion repeats the prompt",)
    assert health.verdict([echo, echo, (), ()]) == "2 of 4 completions degenerate: the completion repeats the prompt"
    assert health.verdict([echo, (), (), ()]) is None
    assert health.verdict([]) is None
    markers = ("template markers in the output (<|im_end|>)",)
    assert health.verdict([markers, (), (), ()]).startswith("1 of 4 completions degenerate: template markers")


def test_a_target_without_a_chat_template_is_warned_before_the_first_run_and_in_the_report(
    llama_server, family, tmp_path, no_new_servers
):
    import json as _json

    from conftest import run_script
    from sweep_helpers import load, write_config

    config = write_config(family, tmp_path, drafts=[("1-layer", "draft-1")])
    data = _json.load(open(config))
    data["targets"] = [{"label": "base model", "path": family["target-notemplate"]}]
    with open(config, "w") as fh:
        _json.dump(data, fh)
    results = str(tmp_path / "r.json")
    out = run_script("sweep.py", "--config", config, "--results", results)
    assert out.returncode == 0, out.stderr
    warned = out.stderr.index("has no chat template")
    assert warned < out.stderr.index("[1/2]") and "--chat-template" in out.stderr[warned : warned + 600]
    recommended = [line for line in out.stderr.splitlines() if line.startswith("Recommended:")]
    assert recommended and "WARNING: measured " in recommended[0] and "chat template" in recommended[0]
    html = open(results[:-5] + ".html").read()
    assert html.index('id="output-warnings"') < html.index('id="answer"')  # above the answer it weakens
    saved = load(results)
    assert saved["warnings"] and all("output_problems" in q for q in saved["results"][0]["requests"])
    with open(config, "w") as fh:  # the same model with a template named: no warning
        data["settings"]["extra_args"] = ["--chat-template", "chatml"]
        _json.dump(data, fh)
    named = run_script("sweep.py", "--config", config, "--results", str(tmp_path / "named.json"))
    assert named.returncode == 0 and "has no chat template" not in named.stderr
    with open(config, "w") as fh:  # raw text through llama.cpp's /completion: no template involved, no warning
        data["settings"].update(extra_args=[], endpoint="completion")
        _json.dump(data, fh)
    raw_path = str(tmp_path / "raw.json")
    raw = run_script("sweep.py", "--config", config, "--results", raw_path)
    assert raw.returncode == 0, raw.stderr
    assert "has no chat template" not in raw.stderr and "WARNING: measured" not in raw.stderr
    runs = load(raw_path)["results"]
    assert load(raw_path)["settings"]["endpoint"] == "completion"
    assert all(r["error"] is None and r["mean_tps"] for r in runs) and runs[1]["draft_n"] > 0  # it speculated


def test_the_report_and_the_recommendation_carry_degenerate_output():
    from draftbench.results import recommend
    from draftbench.results.schema import RunResult

    runs = evaluated(
        [
            RunResult(
                "T", None, mean_tps=10.0, degenerate_output="4 of 4 completions degenerate: the completion repeats the prompt"
            ),
            RunResult("T", "ngram", mean_tps=15.0, acceptance_rate=0.9),
        ]
    )
    rec = recommend.recommend(runs)[0]
    assert rec.best.draft == "ngram" and rec.use() is None  # measured faster, on text nobody wants: withheld
    assert rec.sentence().startswith("T: no recommendation: the outputs are degenerate (baseline: 4 of 4")
    html = rendered({}, runs)
    assert 'id="output-warnings"' in html and "the completion repeats the prompt" in html
    assert 'id="output-warnings"' not in rendered({}, evaluated([RunResult("T", None, mean_tps=10.0)]))
