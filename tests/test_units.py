"""Small rules: GGUF header reading, synth determinism, vLLM / LM Studio shapes, redaction, hardware ids."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import run_script

from draftbench.core import gguf_header, machine
from draftbench.server import lmstudio, vllm
from draftbench.synth import model_family
from draftbench.errors import ModelFileError, UnsupportedSetup
from draftbench.server.process import ServerOptions, ServerSpec
from draftbench.core.redaction import redact, visible
from draftbench.setup.speculation import Speculation


def test_gguf_header_reads_synth_metadata(family):
    meta = gguf_header.read_metadata(family["target"])
    assert meta["general.architecture"] == "llama" and meta["llama.block_count"] == 8
    assert meta["tokenizer.ggml.model"] == "llama"
    assert gguf_header.vocab_mismatch(family["target"], family["draft-1"]) == []
    assert gguf_header.vocab_mismatch(family["target"], family["draft-othervocab"])


def test_gguf_header_truncated(tmp_path, family):
    short = tmp_path / "short.gguf"
    short.write_bytes(open(family["target"], "rb").read()[:40])
    with pytest.raises(ModelFileError, match="truncated"):
        gguf_header.read_metadata(str(short))


def test_synth_is_deterministic_and_drafts_share_the_head(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    model_family.generate(str(a), "test", seed=3, mismatch=False, noisy=False)
    model_family.generate(str(b), "test", seed=3, mismatch=False, noisy=False)

    def digest(path):
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert digest(a / "target.gguf") == digest(b / "target.gguf")
    assert gguf_header.read_metadata(str(a / "draft-1.gguf"))["llama.block_count"] == 1
    config = json.loads((a / "sweep.json").read_text())
    assert [d["label"] for d in config["drafts"]] == ["1-layer", "4-layer"]


def test_vllm_command_uses_speculative_config():
    spec = ServerSpec("Qwen/Qwen2.5-7B", Speculation("Qwen/Qwen2.5-0.5B", draft_max=4), ServerOptions(port=8001))
    cmd = vllm.command(spec, 8001)
    assert cmd[:3] == ["vllm", "serve", "Qwen/Qwen2.5-7B"] and "--speculative-model" not in cmd
    config = json.loads(cmd[cmd.index("--speculative-config") + 1])
    assert config == {"method": "draft_model", "model": "Qwen/Qwen2.5-0.5B", "num_speculative_tokens": 4}
    ngram = vllm.speculative_config(Speculation(spec_type=("ngram-mod",), draft_max=3))
    assert ngram == {"method": "ngram", "num_speculative_tokens": 3}
    with pytest.raises(UnsupportedSetup, match="draft_p_min"):
        vllm.speculative_config(Speculation("d", draft_p_min=0.5))
    assert vllm.command(ServerSpec("m"), 1)[-2:] == ["--port", "1"]  # the baseline: no speculation


def test_vllm_metrics_deltas():
    page = ('# HELP vllm:spec_decode_num_draft_tokens_total x\n'
            'vllm:spec_decode_num_draft_tokens_total{model_name="m"} 120.0\n'
            'vllm:spec_decode_num_accepted_tokens_total{model_name="m"} 90.0\n'
            'vllm:spec_decode_num_drafts_total{model_name="m"} 40.0\n')
    before = vllm.parse_metrics(page)
    after = vllm.parse_metrics(page.replace("120.0", "220.0").replace("90.0", "150.0"))
    delta = vllm.metrics_delta(before, after)
    assert delta == {"draft_tokens": 100.0, "accepted_tokens": 60.0, "drafts": 0.0}
    assert vllm.parse_metrics("nothing here") == {}


def test_lmstudio_shapes():
    start, stop = lmstudio.commands(lmstudio.LMStudioSpec("qwen2.5-7b", "qwen2.5-0.5b", 1234))
    assert start == [["lms", "server", "start", "--port", "1234"], ["lms", "load", "qwen2.5-7b"]]
    assert ["lms", "server", "stop"] in stop
    assert lmstudio.request_fields("qwen2.5-0.5b") == {"draft_model": "qwen2.5-0.5b"}
    body = {"stats": {"accepted_draft_tokens_count": 30, "total_draft_tokens_count": 50}}
    assert lmstudio.draft_counts(body["stats"]) == (50, 30)
    assert lmstudio.draft_counts({}) == (None, None)


def test_redaction_and_visible():
    assert redact(["x", "--api-key", "sk-1", "--api-key=sk-2", "-m", "m"]) == \
        ["x", "--api-key", "***", "--api-key=***", "-m", "m"]
    assert visible("a\x1b[31mb\n") == "a\\x1b[31mb\\n"


def test_hardware_slug(monkeypatch):
    assert machine.slug("NVIDIA GeForce RTX 4090") == "rtx-4090"
    monkeypatch.setattr(machine, "_gpus", lambda: [("NVIDIA GeForce RTX 4090", 24564)] * 2)
    assert machine.hardware_id() == "2x-rtx-4090-24gb"  # the first GPU names the machine, with the count
    monkeypatch.setattr(machine, "_gpus", lambda: [])
    monkeypatch.setattr(machine, "_cpu_model", lambda: "Intel(R) Xeon(R) Platinum 8480+")
    monkeypatch.setattr(machine, "_ram_gb", lambda: 24)
    monkeypatch.setattr(machine.os, "cpu_count", lambda: 2)
    assert machine.hardware_id() == "xeon-platinum-8480-2c-24gb"  # no GPU: the CPU, its cores and the RAM
    monkeypatch.setattr(machine, "_ram_gb", lambda: None)
    assert machine.hardware_id() == "xeon-platinum-8480-2c"


def test_console_command_dispatch():
    result = run_script("-m", "draftbench.cli", "nope")
    assert result.returncode == 2 and "usage: draftbench" in result.stderr


def test_debug_env_shows_traceback():
    result = run_script("server.py", "llama-cpp", "--model-path", "/nope.gguf", env={"DRAFTBENCH_DEBUG": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_vllm_sweep_without_vllm_records_the_reason(tmp_path, monkeypatch):
    import shutil as _shutil

    from draftbench.setup.config import parse_config
    from draftbench.sweep.runner import Sweep

    monkeypatch.setattr(_shutil, "which", lambda name: None)
    cfg = parse_config({"name": "v", "hardware": "box", "backend": "vllm",
                        "targets": [{"label": "7B", "path": "Qwen/Qwen2.5-7B-Instruct"}],
                        "drafts": [{"label": "0.5B", "path": "Qwen/Qwen2.5-0.5B-Instruct"}],
                        "settings": {"port": 0}})
    outcome = Sweep(cfg, str(tmp_path / "r.json"), echo=lambda *a, **k: None).run()
    assert "vllm not found" in outcome.runs[0].error
    assert "no baseline" in outcome.runs[1].error


def test_lmstudio_sweep_is_refused_with_a_pointer():
    from draftbench.setup.config import parse_config
    from draftbench.errors import ConfigError

    with pytest.raises(ConfigError, match="bench.py"):
        parse_config({"name": "l", "backend": "lmstudio", "targets": [{"label": "a", "path": "m"}]})


def test_vllm_gets_as_many_sequences_as_the_largest_level():
    cmd = vllm.command(ServerSpec("m", parallel=4), 1)
    assert cmd[cmd.index("--max-num-seqs") + 1] == "4"
    mine = vllm.command(ServerSpec("m", options=ServerOptions(extra_args=("--max-num-seqs=64",)), parallel=4), 1)
    assert "--max-num-seqs" not in mine and "--max-num-seqs=64" in mine


def test_the_synth_package_runs_as_a_module():
    result = run_script("-m", "draftbench.synth", "--help")
    assert result.returncode == 0 and "--size {demo,test}" in result.stdout
