"""Conversations as a workload: every input form parsed into turns (golden files under tests/data/conversations)
and refused when malformed, with its file and line; the first-turn mode unchanged; the turns scored by the wait,
paired by conversation and turn, and a conversation workload ranked by it."""

from __future__ import annotations

import json
import os

import pytest
from records import evaluated

from draftbench.errors import ConfigError
from draftbench.records.requests import RequestResult
from draftbench.results import conversations, recommend
from draftbench.results.schema import RunResult
from draftbench.setup import prompt_files, prompts
from draftbench.setup.config import parse_config

DATA = os.path.join(os.path.dirname(__file__), "data", "conversations")


def shape(suite) -> list[tuple[str, list[tuple[list[list[str]], str | None]]]]:
    """Each conversation as (id, [(messages of the turn, recorded answer)])."""
    return [(p.id, [([list(m) for m in t.messages], t.answer) for t in p.turns]) for p in suite]


def test_specbench_turns_become_a_conversation_of_user_turns():
    suite = prompt_files.load(os.path.join(DATA, "specbench.jsonl"), replay=True)
    assert shape(suite) == [
        (
            "81",
            [
                ([["user", "Write a travel blog post about Hawaii."]], None),
                ([["user", "Rewrite it so every sentence starts with A."]], None),
            ],
        ),
        ("82", []),  # one turn: a one-shot request, replayed as a conversation of one turn
    ]
    assert not suite[0].recorded  # no answers recorded: the model's own are sent


def test_sharegpt_conversations_keep_roles_and_recorded_answers():
    suite = prompt_files.load(os.path.join(DATA, "sharegpt.json"), replay=True)
    assert shape(suite)[0] == (
        "s1",
        [([["system", "Be brief."], ["user", "Name a prime number."]], "Seven."), ([["user", "And a larger one?"]], None)],
    )
    assert suite[0].recorded and suite[0].history(1, []) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a prime number."},
        {"role": "assistant", "content": "Seven."},
        {"role": "user", "content": "And a larger one?"},
    ]


def test_openai_messages_with_several_user_turns_split_at_each_answer():
    (p,) = prompt_files.load(os.path.join(DATA, "messages.jsonl"), replay=True)
    assert [t.answer for t in p.turns] == ["Is it switched on?", "Orange usually means a paper jam.", None]
    assert [len(p.history(k, [])) for k in range(3)] == [1, 3, 5]


@pytest.mark.parametrize("name", ["requests.jsonl", "batch.jsonl"])
def test_a_request_log_whose_lines_extend_earlier_ones_is_replayed_as_conversations(name):
    suite = prompt_files.load(os.path.join(DATA, name), replay=True)
    picnic = suite[0]
    answers = ["Bring bread, cheese and fruit.", "Take lemon cake."]
    assert [t.answer for t in picnic.turns] == [*answers[: len(picnic.turns) - 1], None]
    assert picnic.turns[0].messages == (("system", "You are a helpful assistant."), ("user", "Plan a picnic for four."))
    assert picnic.turns[-1].messages[-1][1] == ("Now a shopping list." if name == "requests.jsonl" else "Add a dessert.")
    if name == "requests.jsonl":  # the unrelated request stays a conversation of its own, in its place
        assert len(suite) == 2 and suite[1].text == "What is the capital of Peru?" and len(picnic.turns) == 3


def test_first_turn_mode_sends_what_it_sent_before():
    """The default sends a conversation's first turn (a messages list whole), with the fingerprint of before."""
    suite = prompt_files.load(os.path.join(DATA, "specbench.jsonl"))
    assert all(not p.turns for p in suite)
    before = (
        prompts.Prompt("81", "writing", "Write a travel blog post about Hawaii."),
        prompts.Prompt("82", "math", "What is 17 * 23?"),
    )
    assert prompts.fingerprint(suite) == prompts.fingerprint(before)
    log = prompt_files.load(os.path.join(DATA, "requests.jsonl"))
    assert len(log) == 4 and len(log[3].messages) == 6  # each line one request, as before


MALFORMED = [
    ("specbench.jsonl", {"question_id": 1, "turns": ["First.", 7]}, '"turns"[1] must be a non-empty string'),
    ("messages.jsonl", {"messages": [{"role": "assistant", "content": "Hi."}, {"role": "user", "content": "Yo."}]}, "message 1"),
    ("requests.jsonl", {"body": {"messages": [{"role": "user"}]}}, '"messages" must be a list'),
]


@pytest.mark.parametrize("name,line,said", MALFORMED)
def test_a_malformed_conversation_is_refused_with_its_file_and_line(tmp_path, name, line, said):
    good = open(os.path.join(DATA, name)).read()
    path = tmp_path / name
    path.write_text(good + json.dumps(line) + "\n")
    with pytest.raises(ConfigError) as caught:
        prompt_files.load(str(path), replay=True)
    where = f"{path}:{len(good.splitlines()) + 1}"
    assert any(where in p and said in p for p in caught.value.problems), caught.value.problems


def test_a_malformed_sharegpt_turn_names_its_item(tmp_path):
    data = json.load(open(os.path.join(DATA, "sharegpt.json")))
    data.append({"conversations": [{"from": "human", "value": "Hi."}, {"from": "robot", "value": "Beep."}]})
    path = tmp_path / "sharegpt.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as caught:
        prompt_files.load(str(path), replay=True)
    assert any("item 3" in p and "conversations[1]" in p for p in caught.value.problems)
    assert len(prompt_files.load(str(path))) == 3  # the first-turn mode never sends the later turn: not refused


def _config(settings: dict) -> dict:
    return {"name": "c", "targets": [{"label": "t", "path": "t.gguf"}], "drafts": [], "settings": settings}


def test_replay_refuses_what_it_cannot_measure_and_a_file_without_conversations(tmp_path):
    with pytest.raises(ConfigError) as caught:
        parse_config(_config({"conversation": "replay", "concurrency": [1, 2], "depth": [0, 512]}), check_files=False)
    said = " ".join(caught.value.problems)
    assert "settings.concurrency" in said and "settings.depth" in said and '"first-turn"' in said
    flat = tmp_path / "flat.txt"
    flat.write_text("One prompt.\n\nAnother.\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(_config({"conversation": "replay", "prompts": str(flat)}), check_files=False)
    assert any("no conversation of two turns" in p for p in caught.value.problems)
    with pytest.raises(ConfigError, match="settings.conversation"):
        parse_config(_config({"conversation": "chat"}), check_files=False)


def test_the_builtin_set_in_a_replay_is_the_builtin_conversations():
    cfg = parse_config(_config({"conversation": "replay"}), check_files=False)
    assert cfg.prompts == prompts.BUILTIN_CONVERSATIONS
    kinds = {p.category for p in cfg.prompts}
    assert {"chat", "code-agent", "json-agent"} <= kinds and all(len(p.turns) == 4 for p in cfg.prompts)
    agents = [p for p in cfg.prompts if "agent" in p.category]
    assert agents and all(p.recorded for p in agents)  # tool calls recorded: the tool results answer them


def turn(conv: str, k: int, ttft: float, total: float, tps: float, cached: int | None = 0, prompt: int = 100) -> RequestResult:
    return RequestResult(
        f"{conv}/{k}",
        "chat",
        ttft_s=ttft,
        total_s=total,
        decode_tps=tps,
        completion_tokens=32,
        prompt_tokens=prompt,
        cached_tokens=cached,
        conversation=conv,
        turn=k,
    )


def run(draft: str | None, requests: list[RequestResult]) -> RunResult:
    tps = [q.decode_tps for q in requests]
    return RunResult("T", draft, requests=requests, mean_tps=sum(tps) / len(tps), n_requests=len(requests))


def chats(ttft: float, wait: float, tps: float, cached: int = 80) -> list[RequestResult]:
    """Three conversations of three turns; each turn's wait and speed a little different, as measured."""
    return [
        turn(c, k, ttft, wait * (1 + 0.01 * (i + k)), tps * (1 + 0.01 * (i * k % 3)), 0 if k == 1 else cached)
        for i, c in enumerate(("a", "b", "c"))
        for k in (1, 2, 3)
    ]


def test_turns_are_paired_by_conversation_and_turn_and_split_by_turn_index():
    base, setup = run(None, chats(0.1, 1.0, 50)), run("d", chats(0.1, 0.8, 70))
    setup.requests.insert(0, setup.requests.pop(4))  # the order of measurement does not decide the pairs
    scored = conversations.scores(setup, base)
    assert [s.turns for s in scored.spans] == ["1", "2-4", "all"]
    assert scored.overall.pairs == 9 and scored.overall.latency_speedup == pytest.approx(1.25, rel=0.01)
    assert scored.overall.latency_ci95[0] > 1 and scored.overall.decode_speedup == pytest.approx(1.4, rel=0.02)
    assert scored.spans[0].cached_share == 0 and scored.spans[1].cached_share == pytest.approx(0.8)


def test_a_setup_faster_at_decode_but_slower_turns_says_so_and_loses_the_ranking():
    base = run(None, chats(0.10, 1.00, 50))
    prefill = run("draft with prefill", chats(0.50, 1.20, 90))  # decode +80%, each turn waits longer
    light = run("light", chats(0.10, 0.90, 60))
    runs = evaluated([base, prefill, light])
    by = {r.draft: r for r in runs}
    assert "faster decode" in by["draft with prefill"].turns.verdict and "400 ms" in by["draft with prefill"].turns.verdict
    (rec,) = recommend.recommend(runs)
    assert rec.best.draft == "light" and (by["draft with prefill"].speedup or 0) > (by["light"].speedup or 0)
    assert "turn latency" in rec.sentence()


def test_a_tie_in_turn_latency_is_no_win():
    base = run(None, chats(0.1, 1.0, 50))
    same = run(
        "same",
        [turn(q.conversation, q.turn, 0.1, q.total_s * (1.02 if i % 2 else 0.97), 80) for i, q in enumerate(base.requests)],
    )
    (rec,) = recommend.recommend(evaluated([base, same]))
    assert rec.use() is None and "not separated from no speculation" in rec.sentence()


def test_a_later_turn_that_reused_nothing_is_counted():
    base = run(None, chats(0.1, 1.0, 50, cached=0))
    assert conversations.scores(base, None).uncached_turns == 6


def test_the_answer_card_gives_the_interval_of_what_it_ranked_by():
    from records import rendered

    base, setup = run(None, chats(0.1, 1.0, 50)), run("d", chats(0.1, 0.8, 70))
    html = rendered({"name": "x"}, [base, setup])
    facts = html.split('class="facts">', 1)[1].split("</p>", 1)[0]
    assert "turn latency 95% CI +2" in facts and "decode +4" in facts, facts
    assert 'id="turns-table"' in html and "Conversations: the wait for each turn" in html
