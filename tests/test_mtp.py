"""Drafting with the target's own MTP heads: the config allows draft-mtp without a "path", and the target's GGUF
header decides, before any server starts, whether it has the heads."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from draftbench.core import gguf_header
from draftbench.errors import ConfigError
from draftbench.setup.config import load_config
from draftbench.sweep import plan

gguf = pytest.importorskip("gguf")


def header_only(path: str, nextn: int | None) -> str:
    """A GGUF with metadata and no tensors: enough for the header checks, not for a server."""
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(2)
    if nextn is not None:
        w.add_uint32("llama.nextn_predict_layers", nextn)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def config(tmp_path, target: str, draft: dict) -> str:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "mtp", "hardware": "box", "targets": [{"label": "T", "path": target}],
                                "drafts": [draft], "settings": {"draft_max": 2}}))
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
    assert plain in problem and "'MTP'" in problem and "give an MTP head file as \"path\"" in problem
    with_path = load_config(config(tmp_path, plain, {"label": "MTP", "spec_type": "draft-mtp", "path": plain}))
    assert plan._without_heads(with_path) == []  # an MTP head file given as "path": the target needs none


def test_mtp_takes_the_draft_settings_like_a_draft_model(tmp_path):
    target = header_only(str(tmp_path / "mtp.gguf"), 1)
    cfg = load_config(config(tmp_path, target, {"label": "MTP", "spec_type": "draft-mtp,ngram-mod"}))
    assert cfg.setups[0].speculation.draft_max == 2  # settings.draft_max, as for a draft model
    ngram = load_config(config(tmp_path, target, {"label": "n-gram", "spec_type": "ngram-mod"}))
    assert ngram.setups[0].speculation.draft_max is None  # model-free: its own fields only


def test_the_cost_model_invents_no_drafting_cost_for_mtp_heads():
    from draftbench.measure.stream import RequestResult
    from draftbench.results import analysis
    from draftbench.results.schema import RunResult
    from draftbench.setup.speculation import Speculation

    base = RunResult("T", None, mean_tps=20.0, verify_costs={"1": 1.0, "4": 1.3}, speculation=Speculation())
    requests = [RequestResult("p", completion_tokens=50, draft_n=45, draft_n_accepted=20)]
    mtp = RunResult("T", "MTP", mean_tps=25.0, speculation=Speculation(spec_type=("draft-mtp",), draft_max=3),
                    requests=requests)
    assert analysis.explain_run(mtp, base) is None  # no draft-alone run exists for heads: no parts without logs
    timed = analysis.explain_run(replace(mtp, draft_ms_per_pass=5.0), base)  # 5 ms of drafting per pass
    assert timed.draft_cost_source == "in-process" and timed.draft_cost_ratio == pytest.approx(0.1 / 1.5)
