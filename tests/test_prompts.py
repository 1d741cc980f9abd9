"""Prompt sets: the built-in suite, every file shape, bad input with its line, categories, balance, and
per-category results."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import pytest

from draftbench.errors import ConfigError
from draftbench.records.requests import RequestResult
from draftbench.results import categories
from draftbench.results.schema import CategoryResult, RunResult
from draftbench.setup import prompt_files, prompts
from draftbench.setup.config import parse_config


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_builtin_suite_has_eight_kinds_of_four_distinct_prompts():
    counts = Counter(p.category for p in prompts.BUILTIN)
    assert set(counts) == {"code", "json", "math", "summarize", "translate", "qa", "rewrite", "writing"}
    assert min(counts.values()) >= 4
    assert len({p.id for p in prompts.BUILTIN}) == len({p.text for p in prompts.BUILTIN}) == len(prompts.BUILTIN)


def test_jsonl_with_prompt_or_messages_and_optional_category_and_id(tmp_path):
    path = write(
        tmp_path,
        "mine.jsonl",
        "\n".join(
            [
                json.dumps({"prompt": "Write a haiku.", "category": "poetry", "id": "h1"}),
                "",
                json.dumps({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]}),
            ]
        ),
    )
    a, b = prompt_files.load(path)
    assert (a.id, a.category, a.text) == ("h1", "poetry", "Write a haiku.")
    assert b.category == "custom" and b.text == "Hi?"
    assert b.chat() == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    assert a.chat() == [{"role": "user", "content": "Write a haiku."}]


def test_spec_bench_question_jsonl_sends_the_first_turn(tmp_path):
    rows = [
        {"question_id": 81, "category": "writing", "turns": ["Compose a travel blog post.", "Rewrite it."]},
        {"question_id": 101, "category": "reasoning", "turns": ["Which is heavier?"]},
    ]
    suite = prompt_files.load(write(tmp_path, "question.jsonl", "\n".join(map(json.dumps, rows))))
    assert [(p.id, p.category, p.text) for p in suite] == [
        ("81", "writing", "Compose a travel blog post."),
        ("101", "reasoning", "Which is heavier?"),
    ]


def test_sharegpt_json_sends_the_first_human_turn(tmp_path):
    data = [
        {
            "id": "x1",
            "conversations": [
                {"from": "system", "value": "sys"},
                {"from": "human", "value": "Hello"},
                {"from": "gpt", "value": "Hi"},
            ],
        },
        {"conversations": [{"from": "human", "value": "Second"}]},
    ]
    suite = prompt_files.load(write(tmp_path, "sharegpt.json", json.dumps(data, indent=1)))
    assert [(p.id, p.text) for p in suite] == [("x1", "Hello"), ("sharegpt-2", "Second")]


def test_plain_text_prompts_are_separated_by_blank_lines(tmp_path):
    suite = prompt_files.load(write(tmp_path, "p.txt", "First prompt\non two lines.\n\n\nSecond one.\n"))
    assert [p.text for p in suite] == ["First prompt\non two lines.", "Second one."]


@pytest.mark.parametrize(
    "text, needle",
    [
        ('{"prompt": "ok"}\n{not json}\n', "p.jsonl:2: not JSON"),
        ('{"prompt": "ok"}\n{"text": "x"}\n', 'p.jsonl:2: no prompt: expected a "prompt", "messages" or "turns"'),
        ('{"prompt": "ok"}\n\n{"prompt": "  "}\n', 'p.jsonl:3: "prompt" is empty'),
        ('{"turns": []}\n', 'p.jsonl:1: "turns" must be a list whose first turn is a non-empty string'),
        ('{"messages": [{"role": "system", "content": "x"}]}\n', 'p.jsonl:1: "messages" must be'),
        ('{"prompt": "a", "id": "same"}\n{"prompt": "b", "id": "same"}\n', "id 'same' is used twice"),
        ('[{"conversations": [{"from": "gpt", "value": "x"}]}]', "item 1: no human turn with text"),
        ('[{"conversations": 3', "p.jsonl:1: not JSON"),
        ("\n\n", "no prompts found"),
    ],
)
def test_bad_prompt_files_name_the_file_and_line(tmp_path, text, needle):
    path = write(tmp_path, "p.jsonl", text)
    with pytest.raises(ConfigError) as info:
        prompt_files.load(path)
    assert any(needle in p for p in info.value.problems), info.value.problems


def test_every_bad_line_is_reported_at_once(tmp_path):
    path = write(tmp_path, "p.jsonl", '{"prompt": ""}\n{"prompt": "fine"}\nnope\n')
    with pytest.raises(ConfigError) as info:
        prompt_files.load(path)
    assert [p.split(": ")[0].rsplit(":", 1)[1] for p in info.value.problems] == ["1", "3"]


def test_categories_filter_and_an_unknown_one_is_an_error(tmp_path):
    assert {p.category for p in prompt_files.load("builtin", categories=("code", "math"))} == {"code", "math"}
    with pytest.raises(ConfigError, match="unknown category poems .*this prompt set has: code, json"):
        prompt_files.load("builtin", categories=("poems",))


def test_the_schedule_keeps_categories_balanced():
    for count in (5, 8, 13, 40):
        counts = Counter(p.category for p in prompts.schedule(prompts.BUILTIN, count))
        assert max(counts.values()) - min(counts.values() if len(counts) == 8 else [0]) <= 1, (count, counts)
    uneven = (
        prompts.Prompt("a1", "a", "x"),
        prompts.Prompt("a2", "a", "y"),
        prompts.Prompt("a3", "a", "z"),
        prompts.Prompt("b1", "b", "w"),
    )
    assert [p.id for p in prompts.schedule(uneven, 6)] == ["a1", "b1", "a2", "a3", "a1", "b1"]


def test_the_prompt_set_is_part_of_the_comparable_settings(tmp_path):
    base = {"name": "x", "targets": [{"label": "t", "path": "t.gguf"}], "drafts": []}
    plain = parse_config(base, check_files=False)
    path = write(tmp_path, "mine.txt", "One.\n\nTwo.\n")
    mine = parse_config({**base, "settings": {"prompts": "mine.txt"}}, base_dir=str(tmp_path), check_files=False)
    code = parse_config({**base, "settings": {"categories": ["code"]}}, check_files=False)
    hashes = {c.comparable()["prompts_hash"] for c in (plain, mine, code)}
    assert len(hashes) == 3 and [p.text for p in mine.prompts] == ["One.", "Two."]
    assert mine.settings_record()["prompts"] == "mine.txt" and path
    with pytest.raises(ConfigError) as info:
        parse_config(
            {**base, "settings": {"prompts": "missing.jsonl", "categories": []}}, "cfg.json", str(tmp_path), check_files=False
        )
    text = "\n".join(info.value.problems)
    assert "settings.categories: must be a non-empty list" in text and "settings.prompts: cannot read" in text


def _request(cat: str, tps: float, drafted: int | None = None, accepted: int = 0, tokens: int = 100) -> RequestResult:
    return RequestResult(
        f"{cat}-{tps}", cat, decode_tps=tps, completion_tokens=tokens, draft_n=drafted, draft_n_accepted=accepted
    )


def test_per_category_results_sum_acceptance_and_compare_with_the_same_category():
    base = RunResult(
        "T",
        None,
        mean_tps=10.0,
        requests=[_request("code", 10.0), _request("code", 10.0), _request("prose", 20.0), _request("prose", 20.0)],
    )
    run = RunResult(
        "T",
        "d",
        mean_tps=20.0,
        requests=[
            _request("code", 20.0, drafted=10, accepted=9),
            _request("code", 22.0, drafted=90, accepted=9),
            _request("prose", 18.0, drafted=50, accepted=10),
            _request("prose", 20.0, drafted=50, accepted=30),
        ],
    )
    rows = categories.summarise(run, base)
    assert rows["code"].acceptance_rate == pytest.approx(18 / 100)  # summed, not (0.9 + 0.1) / 2
    assert rows["prose"].acceptance_rate == pytest.approx(40 / 100)
    assert rows["code"].speedup == pytest.approx(2.1) and rows["prose"].speedup == pytest.approx(0.95)
    assert rows["code"].n_requests == 2 and rows["code"].mean_accepted_length == pytest.approx(200 / 182)
    assert categories.summarise(RunResult("T", None)) is None  # files of older versions: no categories


def test_a_category_whose_best_differs_gets_its_line():
    def run(label: str, code: float, prose: float, speedup: float) -> RunResult:
        return RunResult(
            "T",
            label,
            mean_tps=10 * speedup,
            speedup=speedup,
            categories={
                "code": CategoryResult(speedup=code, speedup_ci95=[code - 0.05, code + 0.05], n_requests=4),
                "prose": CategoryResult(speedup=prose, speedup_ci95=[prose - 0.3, prose + 0.3], n_requests=2),
            },
        )

    small, big = run("small", 1.3, 1.5, 1.41), run("big", 1.62, 1.1, 1.35)
    assert categories.lines("T", [small, big], small) == [
        "T, for code: big +62% (95% CI +57% .. +67%, unpaired, n 4); overall: small +41%"
    ]
    big = replace(
        big, categories={**big.categories, "prose": replace(big.categories["prose"], speedup=1.6, speedup_ci95=[1.3, 1.9])}
    )
    text = categories.lines("T", [small, big], small)[1]
    assert text.startswith("T, for prose: big +60%") and "too few requests to separate it from small on prose" in text


def test_categories_with_one_request_are_summed_up_in_one_line():
    overall = RunResult(
        "T",
        "a",
        mean_tps=15.0,
        speedup=1.5,
        categories={"code": CategoryResult(speedup=1.2, n_requests=1), "qa": CategoryResult(speedup=1.1, n_requests=1)},
    )
    other = RunResult(
        "T",
        "b",
        mean_tps=14.0,
        speedup=1.4,
        categories={"code": CategoryResult(speedup=1.6, n_requests=1), "qa": CategoryResult(speedup=1.7, n_requests=1)},
    )
    assert categories.lines("T", [overall, other], overall) == [
        "T: code, qa had one request per setup: too few to pick a setup per task (raise requests: the schedule "
        "spreads them evenly over the categories)"
    ]
