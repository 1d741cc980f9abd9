"""Speculation heads, checked from GGUF headers before any server starts: the target's own MTP heads (draft-mtp
without a "path"), and head files (EAGLE-3, DFlash, DSpark) against the target they were trained for."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from draftbench.core import gguf_header
from draftbench.errors import ConfigError
from draftbench.setup.config import load_config
from draftbench.sweep import plan

gguf = pytest.importorskip("gguf")


def header_only(path: str, nextn: int | None = None, arch: str = "llama", **keys) -> str:
    """A GGUF with metadata and no tensors: enough for the header checks, not for a server."""
    w = gguf.GGUFWriter(path, arch)
    w.add_block_count(8)
    w.add_embedding_length(256)
    if nextn is not None:
        w.add_uint32(f"{arch}.nextn_predict_layers", nextn)
    for key, value in keys.items():
        key = key.replace("__", ".")
        if isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, str):
            w.add_string(key, value)
        elif isinstance(value, list):
            w.add_array(key, value)
        else:
            w.add_uint32(key, value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def config(tmp_path, target: str, draft: dict) -> str:
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            {
                "name": "mtp",
                "hardware": "box",
                "targets": [{"label": "T", "path": target}],
                "drafts": [draft],
                "settings": {"draft_max": 2},
            }
        )
    )
    return str(path)


def test_mtp_layers_come_from_the_header(tmp_path):
    assert gguf_header.mtp_layers(header_only(str(tmp_path / "mtp.gguf"), 1)) == 1
    assert gguf_header.mtp_layers(header_only(str(tmp_path / "plain.gguf"), None)) == 0


def test_only_draft_mtp_may_go_without_a_path(tmp_path):
    target = header_only(str(tmp_path / "mtp.gguf"), 1)
    cfg = load_config(config(tmp_path, target, {"label": "MTP", "spec_type": "draft-mtp"}))
    assert cfg.setups[0].speculation.draft_path is None and cfg.setups[0].speculation.spec_type == ("draft-mtp",)
    assert plan._without_heads(cfg) == []  # the target has heads: nothing to refuse
    with pytest.raises(ConfigError, match=r"'draft-eagle3' needs a draft model: add \"path\""):
        load_config(config(tmp_path, target, {"label": "E", "spec_type": "draft-eagle3"}))


def test_a_target_without_heads_is_named_with_the_fix(tmp_path):
    plain = header_only(str(tmp_path / "plain.gguf"), None)
    cfg = load_config(config(tmp_path, plain, {"label": "MTP", "spec_type": "draft-mtp,ngram-mod"}))
    [problem] = plan._without_heads(cfg)
    assert plain in problem and "'MTP'" in problem and 'give an MTP head file as "path"' in problem
    with_path = load_config(config(tmp_path, plain, {"label": "MTP", "spec_type": "draft-mtp", "path": plain}))
    assert plan._without_heads(with_path) == []  # an MTP head file given as "path": the target needs none


def test_mtp_takes_the_draft_settings_like_a_draft_model(tmp_path):
    target = header_only(str(tmp_path / "mtp.gguf"), 1)
    cfg = load_config(config(tmp_path, target, {"label": "MTP", "spec_type": "draft-mtp,ngram-mod"}))
    assert cfg.setups[0].speculation.draft_max == 2  # settings.draft_max, as for a draft model
    ngram = load_config(config(tmp_path, target, {"label": "n-gram", "spec_type": "ngram-mod"}))
    assert ngram.setups[0].speculation.draft_max is None  # model-free: its own fields only


def test_the_cost_model_invents_no_drafting_cost_for_mtp_heads():
    from draftbench.records.requests import RequestResult
    from draftbench.results import explain
    from draftbench.results.schema import RunResult
    from draftbench.setup.speculation import Speculation

    base = RunResult("T", None, mean_tps=20.0, verify_costs={"1": 1.0, "4": 1.3}, speculation=Speculation())
    requests = [RequestResult("p", completion_tokens=50, draft_n=45, draft_n_accepted=20)]
    mtp = RunResult("T", "MTP", mean_tps=25.0, speculation=Speculation(spec_type=("draft-mtp",), draft_max=3), requests=requests)
    assert explain.explain_run(mtp, base) is None  # no draft-alone run exists for heads: no parts without logs
    timed = explain.explain_run(replace(mtp, draft_ms_per_pass=5.0), base)  # 5 ms of drafting per pass
    assert timed.draft_cost_source == "in-process" and timed.draft_cost_ratio == pytest.approx(0.1 / 1.5)


def test_a_head_without_a_tokenizer_raises_no_vocabulary_warning(tmp_path):
    target = header_only(str(tmp_path / "t.gguf"))
    head = header_only(str(tmp_path / "h.gguf"), arch="eagle3")
    assert gguf_header.vocab_mismatch(target, head) == []


@pytest.mark.parametrize(
    "kind, keys, draft_max, needle",
    [
        ("draft-eagle3", {"eagle3__target_hidden_size": 256, "eagle3__target_layers": [1, 4, 6]}, 3, None),
        (
            "draft-eagle3",
            {"eagle3__target_hidden_size": 512, "eagle3__target_layers": [1, 4, 6]},
            3,
            "trained for a target of hidden size 512",
        ),
        (
            "draft-eagle3",
            {"eagle3__target_hidden_size": 256, "eagle3__target_layers": [1, 4, 9]},
            3,
            "reads target layers [1, 4, 9]",
        ),
        ("draft-dflash", {"dflash__block_size": 8}, 7, None),
        ("draft-dflash", {"dflash__block_size": 8}, 8, "drafts at most 7 tokens (block size 8)"),
        ("draft-dspark", {"dflash__block_size": 8, "dflash__sample_from_anchor": True}, 8, None),
        ("draft-dspark", {"dflash__block_size": 8, "dflash__sample_from_anchor": True}, 9, "set draft_max to 8 or less"),
    ],
)
def test_head_files_are_checked_against_their_target(tmp_path, kind, keys, draft_max, needle):
    target = header_only(str(tmp_path / "t.gguf"))
    head = header_only(str(tmp_path / "h.gguf"), arch="eagle3" if kind == "draft-eagle3" else "dflash", **keys)
    found = gguf_header.head_problems(target, head, kind, draft_max)
    assert (found == []) if needle is None else (len(found) == 1 and needle in found[0] and head in found[0])


def test_a_head_of_another_kind_and_the_sweep_refusal(tmp_path):
    target = header_only(str(tmp_path / "t.gguf"))
    head = header_only(str(tmp_path / "h.gguf"), arch="dflash", dflash__block_size=4)
    assert (
        "is not a draft-eagle3 head (its architecture is 'dflash'"
        in gguf_header.head_problems(target, head, "draft-eagle3", 3)[0]
    )
    cfg = load_config(
        config(tmp_path, target, {"label": "DF", "spec_type": "draft-dflash", "path": head, "axes": {"draft_max": [3, 4]}})
    )
    problems = plan._head_problems(cfg)
    assert problems == [
        f"drafts: 'DF · n_max 4': {head} drafts at most 3 tokens (block size 4); draft_max 4 would "
        "be cut to 3 by llama.cpp: set draft_max to 3 or less"
    ]


def test_each_setup_names_its_method():
    from draftbench.setup.speculation import Speculation

    assert Speculation().method is None  # the baseline
    assert Speculation("d.gguf").method == "draft model"
    assert Speculation(spec_type=("draft-mtp",)).method == "MTP"
    assert Speculation("h.gguf", ("draft-eagle3",)).method == "EAGLE-3"
    assert Speculation("h.gguf", ("draft-dspark",)).method == "DSpark"
    assert Speculation(spec_type=("ngram-mod",)).method == "n-gram"
    assert Speculation(spec_type=("ngram-simple", "ngram-mod")).method == "n-gram"  # one method, two kinds
    assert Speculation(spec_type=("draft-mtp", "ngram-mod")).method == "combined"
    assert [
        s.uses_head
        for s in (
            Speculation("d.gguf"),
            Speculation("h.gguf", ("draft-eagle3",)),
            Speculation(spec_type=("draft-mtp", "ngram-mod")),
            Speculation(spec_type=("ngram-mod",)),
        )
    ] == [False, True, True, False]  # a head cannot run alone


def test_a_head_of_another_vocabulary_is_named_before_launch(tmp_path):
    tokens = ["<unk>", "<s>", "</s>", "a", "b"]
    target = header_only(str(tmp_path / "t.gguf"), tokenizer__ggml__model="llama", tokenizer__ggml__tokens=tokens)
    head = header_only(
        str(tmp_path / "h.gguf"), arch="eagle3", tokenizer__ggml__model="llama", tokenizer__ggml__tokens=tokens[:4]
    )
    assert gguf_header.vocab_mismatch(target, head) == ["vocabulary size 5 vs 4"]
