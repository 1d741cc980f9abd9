"""Generate a deterministic family of small GGUF models for tests and the demo.

The target is a llama-architecture model whose output head makes each word token
predict a fixed successor (one long random cycle) with a runner-up at a random
margin. Every layer adds attention and FFN output whose size decays with depth,
flipping near-ties in a context-dependent way. A draft is the target truncated
to its first k layers: it shares embeddings, head and tokenizer, costs about k/L
of the target, and agrees with it more the deeper it is. Needs the ``synth`` extra (gguf, numpy).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from ..errors import DraftbenchError
from .vocab import build_vocab

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class SynthSize:
    name: str
    dim: int
    ff: int
    layers: int
    heads: int
    draft_layers: tuple[int, ...]
    words: int
    float32: bool = False  # F32 weights: on CPUs without AVX2, F16 makes batched verification compute-bound
    extras: bool = True  # also write a noisy draft and a vocabulary-mismatched draft


SIZES = {
    "test": SynthSize("test", 256, 768, 8, 4, (1, 4), 400),
    "demo": SynthSize("demo", 768, 2048, 32, 12, (1, 4, 8), 750, float32=True, extras=False),
}


@dataclass(frozen=True)
class Tunables:
    """Knobs that shape agreement between the target and its truncated drafts."""

    logit_scale: float = 40.0
    margin_mean: float = 2.4
    layer_scale: float = 0.7
    layer_decay: float = 0.9
    qk_score_std: float = 6.0


def _layer_tensors(rng, size: SynthSize, tun: Tunables, layer: int):
    import numpy as np

    d, ff = size.dim, size.ff
    ratio = tun.layer_scale * tun.layer_decay**layer
    qk_std = (tun.qk_score_std / d) ** 0.5
    wdtype = np.float32 if size.float32 else np.float16

    def rand(shape, std):
        return (rng.standard_normal(shape, dtype=np.float32) * std).astype(wdtype)

    silu_up_std = 0.6
    return {
        "attn_norm": np.ones(d, dtype=np.float32),
        "attn_q": rand((d, d), qk_std),
        "attn_k": rand((d, d), qk_std),
        "attn_v": rand((d, d), 1 / d**0.5),
        "attn_output": rand((d, d), ratio / d**0.5),
        "ffn_norm": np.ones(d, dtype=np.float32),
        "ffn_gate": rand((ff, d), 1 / d**0.5),
        "ffn_up": rand((ff, d), 1 / d**0.5),
        "ffn_down": rand((d, ff), ratio / (silu_up_std * ff**0.5)),
    }


def _head(rng, size: SynthSize, tun: Tunables, n_vocab: int, word_ids: list[int]):
    """Embeddings and an output head: embedding of x -> high logit on succ(x), runner-up at a margin."""
    import numpy as np

    d = size.dim
    emb = rng.standard_normal((n_vocab, d), dtype=np.float32)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    words = np.array(word_ids)
    cycle = rng.permutation(words)
    succ = rng.choice(words, size=n_vocab)
    succ[cycle] = np.roll(cycle, -1)
    runner = rng.choice(words, size=n_vocab)
    runner = np.where(runner == succ, np.roll(succ, 1), runner)
    margin = rng.exponential(tun.margin_mean, size=n_vocab).astype(np.float32)
    a = tun.logit_scale / d**0.5
    out = np.zeros((n_vocab, d), dtype=np.float32)
    np.add.at(out, succ, a * unit)
    np.add.at(out, runner, ((tun.logit_scale - margin) / d**0.5)[:, None] * unit)
    dtype = np.float32 if size.float32 else np.float16
    return emb.astype(dtype), out.astype(dtype)


def _mtp_block(rng, size: SynthSize, tun: Tunables) -> dict:
    """One multi-token-prediction (NextN) block in llama.cpp's MiMo-2 layout: it projects the embedding of the next
    token (``eh_proj`` keeps it and drops the hidden state) and passes it through, so the shared head predicts the
    token after next the way the target predicts the next one."""
    import numpy as np

    d = size.dim
    block = _layer_tensors(rng, size, tun, size.layers)
    block["attn_qkv"] = np.concatenate([block.pop("attn_q"), block.pop("attn_k"), block.pop("attn_v")])
    block["attn_output"] = block["attn_output"] * 0
    block["ffn_down"] = block["ffn_down"] * 0
    keep = np.zeros((d, 2 * d), dtype=block["attn_qkv"].dtype)
    keep[:, :d] = np.eye(d)
    ones = np.ones(d, dtype=np.float32)
    return {**block, "nextn.eh_proj": keep, "nextn.enorm": ones, "nextn.hnorm": ones, "nextn.shared_head_norm": ones}


def _save(
    path: str,
    arch: str,
    size: SynthSize,
    n_blocks: int,
    vocab,
    tensors: dict,
    keys: dict | None = None,
    ctx: int = 4096,
    template: bool = True,
) -> None:
    """Write one GGUF of the family: the shared hyperparameters and tokenizer, ``keys`` of its own (integers and
    lists), ``tensors`` by name; atomically (a temp file, then renamed)."""
    import gguf

    tokens, scores, types, _ = vocab
    tmp = path + ".tmp"
    w = gguf.GGUFWriter(tmp, arch)
    w.add_name(os.path.splitext(os.path.basename(path))[0])
    w.add_context_length(ctx)
    w.add_embedding_length(size.dim)
    w.add_block_count(n_blocks)
    for key, value in (keys or {}).items():
        w.add_array(key, value) if isinstance(value, list) else w.add_uint32(key, value)
    w.add_feed_forward_length(size.ff)
    w.add_head_count(size.heads)
    w.add_head_count_kv(size.heads)
    w.add_rope_dimension_count(size.dim // size.heads)
    w.add_vocab_size(len(tokens))
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(0 if size.float32 else 1)  # all F32 / mostly F16
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    if template:
        w.add_chat_template(CHATML)
    for name, arr in tensors.items():
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, path)


def _write(
    path: str,
    size: SynthSize,
    n_layers: int,
    vocab,
    head,
    layers,
    ctx: int = 4096,
    template: bool = True,
    mtp: dict | None = None,
) -> None:
    """A GGUF of the first ``n_layers`` layers: llama's architecture, or with ``mtp`` (:func:`_mtp_block`) MiMo-2's
    (the only change: one more block, the MTP head, after the others)."""
    import numpy as np

    emb, out = head
    tensors = {"token_embd.weight": emb, "output_norm.weight": np.ones(size.dim, dtype=np.float32), "output.weight": out}
    tensors.update({f"blk.{i}.{name}.weight": arr for i in range(n_layers) for name, arr in layers[i].items()})
    if not mtp:
        _save(path, "llama", size, n_layers, vocab, tensors, ctx=ctx, template=template)
        return
    tensors.update({f"blk.{n_layers}.{name}.weight": arr for name, arr in mtp.items()})
    keys = {
        "mimo2.nextn_predict_layers": 1,
        "mimo2.expert_feed_forward_length": size.ff,
        "mimo2.attention.sliding_window": ctx,  # as wide as the context: attention stays full
        "mimo2.attention.sliding_window_pattern": [False] * n_layers + [True],
    }  # MiMo-2 wants one
    _save(path, "mimo2", size, n_layers + 1, vocab, tensors, keys, ctx, template)


def _write_eagle3(path: str, size: SynthSize, vocab, head, seed: int) -> None:
    """An EAGLE-3 head for the target, as llama.cpp b11434 loads one: one decoder layer over the token's embedding
    and three of the target's hidden states (layers 1, L/2 and L-2, fused by ``fc``), the target's tokenizer and
    head. Its weights are random: it drafts (draft_n > 0) but its tokens are seldom accepted."""
    import numpy as np

    d, ff = size.dim, size.ff
    rng = np.random.default_rng([seed, 5])

    def rand(shape, std):
        return (rng.standard_normal(shape, dtype=np.float32) * std).astype(np.float16)

    emb, out = head
    ones = np.ones(d, dtype=np.float32)
    tensors = {
        "fc.weight": rand((d, 3 * d), 1 / (3 * d) ** 0.5),
        "output_norm.weight": ones,
        "output.weight": out,
        "token_embd.weight": emb,
    }
    layer = {
        "attn_norm": ones,
        "attn_norm_2": ones,
        "attn_q": rand((d, 2 * d), 1 / d),
        "attn_k": rand((d, 2 * d), 1 / d),
        "attn_v": rand((d, 2 * d), 1 / d),
        "attn_output": rand((d, d), 1 / d),
        "ffn_norm": ones,
        "ffn_gate": rand((ff, d), 1 / d**0.5),
        "ffn_up": rand((ff, d), 1 / d**0.5),
        "ffn_down": rand((d, ff), 1 / ff),
    }
    tensors.update({f"blk.0.{name}.weight": arr for name, arr in layer.items()})
    keys = {"eagle3.target_layers": [1, size.layers // 2, size.layers - 2], "eagle3.target_hidden_size": d}
    _save(path, "eagle3", size, 1, vocab, tensors, keys, template=False)


def family_weights(size: SynthSize, seed: int = 0, tunables: Tunables = Tunables()) -> tuple:
    """The family's shared parts: its vocabulary, its head (embeddings, output) and the target's layers."""
    import numpy as np

    vocab = build_vocab(size.words)
    head = _head(np.random.default_rng(seed), size, tunables, len(vocab[0]), vocab[3])
    return vocab, head, [_layer_tensors(np.random.default_rng([seed, 1, i]), size, tunables, i) for i in range(size.layers)]


def generate(
    out_dir: str,
    size_name: str = "test",
    seed: int = 0,
    tunables: Tunables = Tunables(),
    mismatch: bool = True,
    noisy: bool = True,
) -> dict:
    """Write the family into ``out_dir`` and return the sweep config (also saved as ``sweep.json``)."""
    if any(importlib.util.find_spec(m) is None for m in ("gguf", "numpy")):  # checked here for a clear message
        raise DraftbenchError("generating models needs the synth extra: pip install 'draftbench[synth]'")

    size = SIZES[size_name]
    os.makedirs(out_dir, exist_ok=True)
    vocab, head, layers = family_weights(size, seed, tunables)

    def p(name: str) -> str:
        return os.path.join(out_dir, name)

    _write(p("target.gguf"), size, size.layers, vocab, head, layers)
    for k in size.draft_layers:
        _write(p(f"draft-{k}.gguf"), size, k, vocab, head, layers)
    if size.extras:
        _write_extras(p, size, seed, tunables, vocab, head, layers, mismatch, noisy)
    return write_config(out_dir, size_name)


def write_config(out_dir: str, size_name: str) -> dict:
    """The family's sweep config, saved as ``sweep.json`` in ``out_dir`` (the models are not touched)."""
    size = SIZES[size_name]
    drafts: list[dict] = [
        {"label": f"{k}-layer", "path": os.path.join(out_dir, f"draft-{k}.gguf"), "size": f"{k} layer{'s' if k > 1 else ''}"}
        for k in size.draft_layers
    ]
    if size.name == "demo":  # the draft-length trade-off, next to the draft-size one
        drafts[0]["axes"] = {"draft_max": [1, 3, 5]}
    config: dict[str, Any] = {
        "name": f"synthetic-{size.name}",
        "hardware": "auto",
        "backend": "llamacpp",
        "model_family": f"synthetic-{size.name}",
        "targets": [{"label": f"{size.layers}-layer target", "path": os.path.join(out_dir, "target.gguf")}],
        "drafts": drafts,
        "settings": {
            "runs": 1,
            "requests": 4,
            "warmup": 1,
            "max_tokens": 128,
            "temperature": 0.0,
            "gpu_layers": 0,
            "ctx_size": 2048,
            "port": 0,
            "draft_max": 3,
        },
    }
    if size.name == "demo":  # about 3 minutes on 2 cores: six short replies a setup, one baseline check at the end
        config["settings"].update(requests=6, max_tokens=48, baseline_every=5)
    with open(os.path.join(out_dir, "sweep.json"), "w", encoding="utf-8") as fh:
        json.dump(config, fh, indent=2)
    return config


def _write_extras(p, size: SynthSize, seed: int, tunables: Tunables, vocab, head, layers, mismatch: bool, noisy: bool) -> None:
    """The family's other files: a noisy draft, a target without a chat template, a target with an MTP head and
    an EAGLE-3 head, a draft of another vocabulary."""
    import numpy as np

    if noisy:
        k = size.draft_layers[min(1, len(size.draft_layers) - 1)]
        noise_rng = np.random.default_rng([seed, 2])
        emb, out = head
        jitter = noise_rng.standard_normal(out.shape, dtype=np.float32) * (2.0 / size.dim**0.5)
        _write(p(f"draft-{k}-noisy.gguf"), size, k, vocab, (emb, (out + jitter).astype(out.dtype)), layers)
    _write(p("target-notemplate.gguf"), size, size.layers, vocab, head, layers, template=False)  # as base GGUFs come
    _write(
        p("target-mtp.gguf"),
        size,
        size.layers,
        vocab,
        head,
        layers,  # draft-mtp without a draft model
        mtp=_mtp_block(np.random.default_rng([seed, 4]), size, tunables),
    )
    _write_eagle3(p("head-eagle3.gguf"), size, vocab, head, seed)
    if mismatch:
        other = build_vocab(size.words, variant=1)
        other_head = _head(np.random.default_rng([seed, 3]), size, tunables, len(other[0]), other[3])
        _write(p("draft-othervocab.gguf"), size, 1, other, other_head, layers)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="draftbench synth", description="Generate a synthetic GGUF model family.")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--size", choices=sorted(SIZES), default="test")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not args.out.strip() or (os.path.exists(args.out) and not os.path.isdir(args.out)):
        ap.error(f"--out {args.out!r} must be a folder (it is written into; an existing file is never replaced)")
    try:
        config = generate(args.out, args.size, args.seed)
    except OSError as exc:
        print(f"error: cannot write the models into {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    print(os.path.join(args.out, "sweep.json"))
    print(f"wrote target + {len(config['drafts'])} drafts to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
