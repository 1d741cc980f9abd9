"""Which weights llama.cpp copies into an extra CPU buffer ("repacks"), as b11434's ggml CPU backend decides it: a
buffer on device ``AMX`` where the build has AMX kernels, else ``CPU_REPACK`` (x86 with AVX2, ARM with dot
products). A repacked weight is held twice while the server runs: once in the mapped file, once in its extra
buffer, so the memory it costs is the file and the repacked copies. ``--no-repack`` turns every extra buffer off.

The rules are ggml's (``ggml-cpu/amx/amx.cpp``'s ``supports_op``, ``ggml-cpu/repack.cpp``'s
``ggml_repack_get_optimal_repack_type``): a type, the CPU features it needs, and the divisibility of the
weight's rows or columns. The features are the build's own, from the ``system_info`` line a server prints at start;
before any server has run, this CPU's flags stand in for them (a native build, or the build's CPU variant for
this CPU, uses what the CPU has)."""

from __future__ import annotations

import functools
import platform
import re
import shutil
import sys
from dataclasses import dataclass

from ..core import gguf_header

F16, Q4_0, Q4_1, Q8_0, Q2_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, MXFP4 = 1, 2, 3, 8, 10, 12, 13, 14, 20, 23, 39
QUANTIZED_REPACKED = frozenset({Q4_0, Q4_1, Q8_0, Q2_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, MXFP4})
EXTRA_BUFFERS = ("AMX", "CPU_REPACK", "CPU_KLEIDIAI", "CPU_RISCV64_SPACEMIT")  # the devices llama.cpp names them


@dataclass(frozen=True)
class Rule:
    """A weight of ``ggml_type`` goes to ``buffer`` on a CPU with every one of ``needs``, when its columns (the
    input features, ``ne[0]``) divide by ``cols`` and its rows (``ne[1]``) by ``rows``."""

    buffer: str
    ggml_type: int
    needs: tuple[str, ...]
    cols: int = 1
    rows: int = 1


_AMX = ("AMX_INT8", "AVX512_VNNI")
_ARM_DOT = ("NEON", "DOTPROD")
RULES = (  # in ggml's order: the AMX buffer is asked first, then the repack buffer
    *(Rule("AMX", t, _AMX, 32, 32) for t in (Q4_0, Q4_1, Q8_0)),
    *(Rule("AMX", t, _AMX, 256, 32) for t in (Q4_K, Q5_K, Q6_K, IQ4_XS)),
    Rule("AMX", F16, _AMX, 16, 32),
    *(Rule("CPU_REPACK", t, ("REPACK", "AVX2"), rows=8) for t in (Q4_0, Q4_K, IQ4_NL, MXFP4)),
    Rule("CPU_REPACK", Q2_K, ("REPACK", "AVX512"), rows=8),
    *(Rule("CPU_REPACK", t, ("REPACK", *_ARM_DOT), rows=4) for t in (Q4_0, IQ4_NL, MXFP4, Q8_0)),
    *(Rule("CPU_REPACK", t, ("REPACK", *_ARM_DOT), rows=8) for t in (Q4_K, Q5_K, Q6_K)),
)

_SYSTEM_INFO = re.compile(r"system_info:.*")
_FEATURE = re.compile(r"([A-Z][A-Z0-9_]*) = 1\b")
_CPU_FLAGS = {
    "amx_int8": "AMX_INT8",
    "avx512_vnni": "AVX512_VNNI",
    "avx2": "AVX2",
    "avx512f": "AVX512",
    "asimd": "NEON",
    "asimddp": "DOTPROD",
    "i8mm": "MATMUL_INT8",
}
_GPU_SECTIONS = re.compile(r"\|\s*(CUDA|ROCm|HIP|Metal|MTL|Vulkan|SYCL|OpenCL|CANN|MUSA)\b")


@dataclass(frozen=True)
class Features:
    """What a llama-server build does on this CPU: its CPU features (as ``system_info`` spells them) and whether it
    has a GPU backend."""

    cpu: frozenset[str] = frozenset()
    gpu: bool = False

    @classmethod
    def from_log(cls, text: str) -> "Features | None":
        """From a llama-server log's ``system_info`` line (None where the log has none)."""
        found = _SYSTEM_INFO.search(text)
        if found is None:
            return None
        line = found.group(0)
        return cls(frozenset(_FEATURE.findall(line)), bool(_GPU_SECTIONS.search(line)))

    @classmethod
    def of_this_cpu(cls) -> "Features":
        """From /proc/cpuinfo (Linux; none elsewhere), the build's repack support assumed (ggml's default), and a
        GPU where its driver's tool is installed or the machine is an Apple Silicon Mac (Metal). Read once."""
        return _this_cpu()

    def buffer_for(self, tensor: gguf_header.Tensor) -> str | None:
        """The extra buffer ``tensor`` is repacked into, or None (kept in the mapped file alone). A mixture of
        experts' 3-D expert weights (``MUL_MAT_ID``) go to the repack buffer only: AMX multiplies 2-D weights."""
        dims = len(tensor.shape)
        if dims not in (2, 3) or not _multiplied(tensor.name):
            return None
        cols, rows = tensor.shape[:2]
        for rule in RULES:
            if dims == 3 and rule.buffer != "CPU_REPACK":
                continue
            if (
                rule.ggml_type == tensor.ggml_type
                and all(f in self.cpu for f in rule.needs)
                and cols % rule.cols == 0
                and rows % rule.rows == 0
            ):
                return rule.buffer
        return None


@functools.lru_cache(maxsize=1)
def _this_cpu() -> Features:
    gpu = any(shutil.which(tool) for tool in ("nvidia-smi", "rocm-smi")) or (
        sys.platform == "darwin" and platform.machine() == "arm64"
    )
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            flags = next((ln.split(":", 1)[1].split() for ln in fh if ln.startswith(("flags", "Features"))), [])
    except OSError:
        return Features(gpu=gpu)
    return Features(frozenset({"REPACK", *(_CPU_FLAGS[f] for f in flags if f in _CPU_FLAGS)}), gpu)


def _multiplied(name: str) -> bool:
    """A weight that a matrix multiplication reads (the embedding is looked up by row, norms are added)."""
    return name.endswith(".weight") and not name.startswith("token_embd") and "norm" not in name


def _layer(name: str) -> int | None:
    found = re.match(r"blk\.(\d+)\.", name)
    return int(found.group(1)) if found else None


def repacked_bytes(path: str, features: Features, gpu_layers: int) -> dict[str, int]:
    """The bytes of ``path``'s weights each extra buffer holds, for the weights left on the CPU: every weight
    without a GPU backend; with one, the layers llama.cpp does not offload (it offloads the last
    ``gpu_layers`` of the layers and the output layer, which counts as one more)."""
    described = gguf_header.tensors(path)
    n_layer = 1 + max((n for n in map(_layer, (t.name for t in described)) if n is not None), default=-1)
    first_on_gpu = max(n_layer + 1 - gpu_layers, 0) if features.gpu else n_layer + 1
    out: dict[str, int] = {}
    for tensor in described:
        layer = _layer(tensor.name)
        position = n_layer if layer is None else layer  # the output layer after the blocks
        buffer = features.buffer_for(tensor) if position < first_on_gpu else None
        if buffer is not None:
            out[buffer] = out.get(buffer, 0) + tensor.nbytes
    return out
