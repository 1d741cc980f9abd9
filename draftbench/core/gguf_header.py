"""Read a GGUF file's metadata in pure Python (no ``gguf`` dependency at run time).

Only the header is read: enough to check that a path really is a GGUF model and
to compare a draft's tokenizer with its target's before any server starts.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..errors import ModelFileError

GGUF_MAGIC = b"GGUF"

_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class TokenizerInfo:
    model: str | None
    vocab_size: int
    tokens_sha1: str | None

    def differences(self, other: "TokenizerInfo") -> list[str]:
        out = []
        if self.model != other.model:
            out.append(f"tokenizer type {self.model!r} vs {other.model!r}")
        if self.vocab_size != other.vocab_size:
            out.append(f"vocabulary size {self.vocab_size} vs {other.vocab_size}")
        elif self.tokens_sha1 != other.tokens_sha1:
            out.append("token lists differ")
        return out


MAX_KV = 1 << 16  # metadata keys: a model has a few hundred
MAX_ARRAY = 1 << 22  # entries of one metadata array: the largest vocabularies and merge lists are under a million


class _Reader:
    def __init__(self, fh: BinaryIO, path: str):
        self.fh, self.path = fh, path
        self.size = os.fstat(fh.fileno()).st_size if hasattr(fh, "fileno") else 1 << 62

    def bounded(self, count: int, each: int, what: str) -> int:
        """``count`` items of at least ``each`` bytes, as the header claims: refused when the file cannot hold them
        or no model has that many (a corrupt or hostile header, read without walking it)."""
        if count > MAX_ARRAY or count * each > self.size - self.fh.tell():
            raise ModelFileError(f"{self.path}: GGUF header is corrupt ({what} of {count:,} entries)")
        return count

    def read(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise ModelFileError(f"{self.path}: GGUF header is truncated")
        return data

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.scalar("<Q")
        if n > 1 << 30 or n > self.size - self.fh.tell():
            raise ModelFileError(f"{self.path}: GGUF header is corrupt (string of {n} bytes)")
        return self.read(n).decode("utf-8", errors="replace")

    def value(self, vtype: int, keep: bool = True) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            itype, count = self.scalar("<I"), self.scalar("<Q")
            self.bounded(count, struct.calcsize(_SCALARS[itype]) if itype in _SCALARS else 8, "an array")
            if itype in _SCALARS and not keep:
                self.fh.seek(struct.calcsize(_SCALARS[itype]) * count, os.SEEK_CUR)
                return count
            items = [self.value(itype) for _ in range(count)]
            return items if keep else count
        raise ModelFileError(f"{self.path}: GGUF header is corrupt (unknown value type {vtype})")


def check_gguf(path: str, role: str = "model") -> None:
    """Raise ModelFileError unless ``path`` is an existing file that starts with the GGUF magic."""
    if not os.path.exists(path):
        raise ModelFileError(f"{role} file not found: {path} (check the path)")
    if not os.path.isfile(path):
        raise ModelFileError(f"{role} path is not a file: {path}")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelFileError(f"cannot read {role} file {path}: {exc.strerror}") from exc
    if magic != GGUF_MAGIC:
        raise ModelFileError(f"{role} file is not a GGUF model (bad magic {magic!r}): {path}")


def _read_kv(r: _Reader, keep_arrays: tuple[str, ...]) -> tuple[dict[str, Any], int]:
    """The key/value metadata and the tensor count, the reader left at the first tensor's description."""
    r.read(4)
    version = r.scalar("<I")
    if version == 1:
        raise ModelFileError(f"{r.path}: GGUF version 1 is too old to inspect")
    n_tensors, kv_count = r.scalar("<Q"), r.scalar("<Q")
    if kv_count > MAX_KV:
        raise ModelFileError(f"{r.path}: GGUF header is corrupt ({kv_count:,} metadata keys)")
    meta: dict[str, Any] = {"GGUF.version": version}
    for _ in range(kv_count):
        key = r.string()
        vtype = r.scalar("<I")
        meta[key] = r.value(vtype, keep=key in keep_arrays)
    return meta, n_tensors


def read_metadata(path: str, keep_arrays: tuple[str, ...] = ("tokenizer.ggml.tokens",)) -> dict[str, Any]:
    """Return the key/value metadata. Arrays are kept only for keys in ``keep_arrays``
    (others become their length), so huge merge lists cost little."""
    check_gguf(path)
    with open(path, "rb") as fh:
        return _read_kv(_Reader(fh, path), keep_arrays)[0]


@dataclass(frozen=True)
class Tensor:
    """One tensor as the header describes it: its name, ggml type number, shape (``ne``: innermost first) and
    its bytes in the file (to the next tensor's start, alignment padding included)."""

    name: str
    ggml_type: int
    shape: tuple[int, ...]
    nbytes: int


MAX_TENSORS = 1 << 20  # far above any model (a 671B model has under 2,000)


def tensors(path: str) -> tuple[Tensor, ...]:
    """Every tensor's description, read from the header only (the weights are never read)."""
    check_gguf(path)
    with open(path, "rb") as fh:
        r = _Reader(fh, path)
        meta, count = _read_kv(r, ())
        if count > MAX_TENSORS:
            raise ModelFileError(f"{path}: GGUF header is corrupt ({count} tensors)")
        described = []
        for _ in range(count):
            name, n_dims = r.string(), r.scalar("<I")
            if n_dims > 8:
                raise ModelFileError(f"{path}: GGUF header is corrupt (tensor {name!r} of {n_dims} dimensions)")
            shape = tuple(r.scalar("<Q") for _ in range(n_dims))
            described.append((name, r.scalar("<I"), shape, r.scalar("<Q")))
        align = meta.get("general.alignment", 32)
        align = align if isinstance(align, int) and align > 0 else 32
        data_start = -(-fh.tell() // align) * align
    end = os.path.getsize(path) - data_start
    starts = sorted({offset for *_, offset in described} | {end})
    following = {a: b for a, b in zip(starts, starts[1:])}
    return tuple(
        Tensor(name, kind, shape, max(0, following.get(offset, end) - offset)) for name, kind, shape, offset in described
    )


def mtp_layers(path: str) -> int:
    """How many multi-token-prediction (NextN) layers the model carries (``<arch>.nextn_predict_layers``; 0 if none)."""
    meta = read_metadata(path, keep_arrays=())
    value = meta.get(f"{meta.get('general.architecture')}.nextn_predict_layers")
    return value if isinstance(value, int) else 0


def chat_template(path: str) -> str | None:
    """The chat template stored in the GGUF (``tokenizer.chat_template``), or None when it has none."""
    value = read_metadata(path, keep_arrays=()).get("tokenizer.chat_template")
    return value if isinstance(value, str) and value.strip() else None


def tokenizer_info(path: str) -> TokenizerInfo:
    meta = read_metadata(path)
    tokens = meta.get("tokenizer.ggml.tokens")
    digest = None
    if isinstance(tokens, list):
        digest = hashlib.sha1("\0".join(tokens).encode("utf-8")).hexdigest()
        size = len(tokens)
    else:
        size = int(tokens or 0)
    return TokenizerInfo(meta.get("tokenizer.ggml.model"), size, digest)


def vocab_mismatch(target: str, draft: str) -> list[str]:
    """Reasons the draft's tokenizer differs from the target's ([] when they match, or when the draft is a head
    with no tokenizer of its own: it drafts in the target's)."""
    mine = tokenizer_info(draft)
    if mine.model is None and not mine.vocab_size:
        return []
    return tokenizer_info(target).differences(mine)


def head_problems(target: str, head: str, spec_type: str, draft_max: int | None) -> list[str]:
    """What a speculation head's header says against its target, as llama.cpp b11434 reads it: an EAGLE-3 or
    DFlash/DSpark head names the hidden size and the layers of the target it was trained on, and a DFlash/DSpark
    head drafts at most its block size less one (less none for DSpark sampling from the anchor)."""
    meta = read_metadata(head, keep_arrays=("eagle3.target_layers", "dflash.target_layers"))
    target_meta = read_metadata(target, keep_arrays=())
    arch, want = meta.get("general.architecture"), {"draft-eagle3": "eagle3"}.get(spec_type, "dflash")
    if arch != want:
        return [f"{head} is not a {spec_type} head (its architecture is {arch!r}, not {want!r})"]
    t_arch = target_meta.get("general.architecture")
    hidden, width = meta.get(f"{arch}.target_hidden_size"), target_meta.get(f"{t_arch}.embedding_length")
    layers = meta.get(f"{arch}.target_layers") or []
    depth = target_meta.get(f"{t_arch}.block_count")
    problems = []
    if isinstance(hidden, int) and isinstance(width, int) and hidden != width:
        problems.append(
            f"{head} was trained for a target of hidden size {hidden}, and {target} has {width}: "
            "use the head published for this target"
        )
    if isinstance(depth, int) and any(isinstance(i, int) and i >= depth for i in layers):
        problems.append(f"{head} reads target layers {layers}, and {target} has {depth}: use the head published for this target")
    if arch == "dflash" and draft_max is not None:
        block = meta.get("dflash.block_size", 16)
        anchor = spec_type == "draft-dspark" and meta.get("dflash.sample_from_anchor") is True
        cap = block if anchor else block - 1
        if isinstance(cap, int) and draft_max > cap:
            problems.append(
                f"{head} drafts at most {cap} tokens (block size {block}); draft_max {draft_max} would "
                f"be cut to {cap} by llama.cpp: set draft_max to {cap} or less"
            )
    return problems


IDENTITY_BYTES = 2**20


def identity(path: str | None) -> str | None:
    """What identifies a model file cheaply and robustly, wherever it moves: its size and a hash of its first
    and last MiB (the GGUF header, tokenizer and the end of its tensors): 'size:hash'. None when unreadable."""
    if not path:
        return None
    try:
        size = os.path.getsize(path)
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            digest.update(fh.read(IDENTITY_BYTES))
            if size > 2 * IDENTITY_BYTES:
                fh.seek(size - IDENTITY_BYTES)
            digest.update(fh.read(IDENTITY_BYTES))
    except OSError:
        return None
    return f"{size}:{digest.hexdigest()[:16]}"


def file_size(path: str) -> int:
    """A model file's size in bytes; 0 when it cannot be read."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
