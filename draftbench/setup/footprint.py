"""A setup's memory estimated before anything runs, from the GGUF headers and the context: what the dry run warns
with, and what each run's measured buffers are compared with (its error is then known).

Per model: weights as the file's size; KV cache as layers x cells x 2 (K and V) x KV heads x head size x 2 bytes
(f16, llama-server's default), cells being ctx_size x slots; compute buffers as one micro-batch of 512 tokens
through the widest activations (vocabulary, feed-forward, 4 x embedding) in F32. The draft is a draft model or
head file with its own header; MTP drafts with the target's own ``nextn_predict_layers``; n-gram adds nothing.

Weights that llama.cpp repacks into an extra CPU buffer (``repacking``: AMX, CPU_REPACK) are held twice, in the
mapped file and in their buffer: the estimate counts the copies, per buffer, unless the server runs with
``--no-repack``."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..core import gguf_header
from ..errors import ModelFileError
from .repacking import Features, repacked_bytes
from .speculation import TARGET_HEADS, Speculation

MIB = 1024 * 1024
UBATCH = 512  # llama-server's default micro-batch


def _model(path: str, cells: int, layers: int | None = None, weights: bool = True) -> float:
    """One model's weights (or none, where they are the target's), KV cache for ``cells`` and compute, MiB."""
    meta = gguf_header.read_metadata(path, keep_arrays=())
    arch = meta.get("general.architecture")

    def key(name: str, default: int = 0) -> int:
        """A size from the header; one below zero (a signed type, a corrupt header) counts as unknown."""
        value = meta.get(f"{arch}.{name}")
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default

    embd, heads = key("embedding_length"), key("attention.head_count", 1)
    head_size = key("attention.key_length", embd // max(heads, 1))
    kv = (
        (layers if layers is not None else key("block_count")) * cells * 2 * key("attention.head_count_kv", heads) * head_size * 2
    )
    vocab = key("vocab_size") or meta.get("tokenizer.ggml.tokens", 0)
    compute = UBATCH * 4 * ((vocab if isinstance(vocab, int) else 0) + key("feed_forward_length") + 4 * embd)
    return ((os.path.getsize(path) if weights else 0) + kv + compute) / MIB


@dataclass(frozen=True)
class Estimate:
    """A setup's memory from the headers, MiB: the whole, and the part of it that repacked copies of weights are
    (per extra buffer; none with ``--no-repack``)."""

    total_mib: float
    repacked_mib: tuple[tuple[str, float], ...] = ()


def no_repack(extra_args: tuple[str, ...] | list[str]) -> bool:
    """Does a server with these arguments keep every weight in the mapped file alone?"""
    return any(a in ("--no-repack", "-nr") for a in extra_args)


def estimate(
    target: str,
    spec: Speculation,
    ctx_size: int,
    slots: int = 1,
    features: Features | None = None,
    gpu_layers: int = 0,
    repack: bool = True,
) -> Estimate | None:
    """The server's buffers for ``target`` with ``spec``, or None where a header cannot be read. ``features``
    are the build's (this CPU's flags where None); ``repack`` False for a server run with ``--no-repack``."""
    cells = ctx_size * max(slots, 1)
    features = features or Features.of_this_cpu()
    copies: dict[str, int] = {}
    try:
        total = _model(target, cells)
        models = [target]
        if spec.draft_path:
            total += _model(spec.draft_path, cells)
            models.append(spec.draft_path)
        elif TARGET_HEADS in spec.spec_type:  # the target's own MTP layers: their KV and compute, no more weights
            total += _model(target, cells, layers=gguf_header.mtp_layers(target), weights=False)
        for path in models if repack else []:
            for buffer, size in repacked_bytes(path, features, gpu_layers).items():
                copies[buffer] = copies.get(buffer, 0) + size
    except (ModelFileError, OSError):
        return None
    repacked = tuple((buffer, round(size / MIB, 1)) for buffer, size in copies.items())
    return Estimate(round(total + sum(size for size in copies.values()) / MIB, 1), repacked)


def estimate_mib(
    target: str,
    spec: Speculation,
    ctx_size: int,
    slots: int = 1,
    features: Features | None = None,
    gpu_layers: int = 0,
    repack: bool = True,
) -> float | None:
    """``estimate``'s total alone."""
    found = estimate(target, spec, ctx_size, slots, features, gpu_layers, repack)
    return found.total_mib if found is not None else None
