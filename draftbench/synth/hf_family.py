"""The synthetic family as Hugging Face folders, for servers that do not read GGUF (vLLM).

The same weights as :mod:`model_family`'s GGUF files (a target and drafts that are its first k layers, one shared
head and tokenizer), each written as a folder vLLM loads without a model hub: ``config.json`` (Llama),
``model.safetensors`` (F32) and a ``tokenizer.json`` that tokenizes as the GGUF's SPM vocabulary does (whole words
first, bytes as a fallback) with its ChatML template. Only numpy is needed to write them (the ``synth`` extra):
safetensors and ``tokenizer.json`` are plain formats, written here directly.

Why not the GGUF files themselves: vLLM's GGUF loader wants a Hugging Face tokenizer and config beside each file
and is a GPU-oriented path; the safetensors folders are what vLLM serves every day, on the CPU too.
"""

from __future__ import annotations

import json
import os
import struct

from .model_family import CHATML, SIZES, family_weights
from .vocab import SPECIALS

_LAYER_NAMES = {  # the GGUF tensor -> its name in a Hugging Face Llama layer
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def write_safetensors(path: str, tensors: dict) -> None:
    """``tensors`` (name -> numpy array) as one F32 safetensors file, atomically."""
    import numpy as np

    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            fh.write(blob)
    os.replace(tmp, path)


def tokenizer_json(tokens: list[str], types: list[int]) -> dict:
    """A Unigram tokenizer over the SPM vocabulary: each piece costs 1, so a word becomes its whole-word piece;
    text outside the vocabulary falls back to byte tokens (as llama.cpp's SPM tokenizer does)."""
    special = [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
        for i, t in enumerate(tokens)
        if types[i] in (2, 3)
    ]
    scores = [[t, -1000.0 if types[i] in (2, 3, 6) else -1.0] for i, t in enumerate(tokens)]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": special,
        "normalizer": {
            "type": "Sequence",
            "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}],
        },
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": SPECIALS[1], "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [
                {"SpecialToken": {"id": SPECIALS[1], "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {SPECIALS[1]: {"id": SPECIALS[1], "ids": [1], "tokens": [SPECIALS[1]]}},
        },
        "decoder": {
            "type": "Sequence",
            "decoders": [
                {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0},
            ],
        },
        "model": {"type": "Unigram", "unk_id": 0, "vocab": scores, "byte_fallback": True},
    }


def _folder(path: str, size, n_layers: int, vocab, head, layers) -> None:
    emb, out = head
    import numpy as np

    os.makedirs(path, exist_ok=True)
    tensors = {"model.embed_tokens.weight": emb, "model.norm.weight": np.ones(size.dim, dtype=np.float32), "lm_head.weight": out}
    tensors.update(
        {f"model.layers.{i}.{_LAYER_NAMES[name]}.weight": arr for i in range(n_layers) for name, arr in layers[i].items()}
    )
    write_safetensors(os.path.join(path, "model.safetensors"), tensors)
    tokens, _, types, _ = vocab
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": size.dim,
        "intermediate_size": size.ff,
        "num_hidden_layers": n_layers,
        "num_attention_heads": size.heads,
        "num_key_value_heads": size.heads,
        "head_dim": size.dim // size.heads,
        "vocab_size": len(tokens),
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    files = {
        "config.json": config,
        "generation_config.json": {"bos_token_id": 1, "eos_token_id": 2},
        "tokenizer.json": tokenizer_json(tokens, types),
        "tokenizer_config.json": {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": SPECIALS[1],
            "eos_token": SPECIALS[2],
            "unk_token": SPECIALS[0],
            "add_bos_token": True,
            "model_max_length": 4096,
            "chat_template": CHATML,
        },
    }
    for name, value in files.items():
        with open(os.path.join(path, name), "w", encoding="utf-8") as fh:
            json.dump(value, fh, ensure_ascii=False)


def generate(out_dir: str, size_name: str = "test", seed: int = 0) -> dict[str, str]:
    """Write ``target/`` and ``draft-<k>/`` folders into ``out_dir``; return their paths by name."""
    size = SIZES[size_name]
    vocab, head, layers = family_weights(size, seed)
    paths = {
        "target": os.path.join(out_dir, "target"),
        **{f"draft-{k}": os.path.join(out_dir, f"draft-{k}") for k in size.draft_layers},
    }
    for name, path in paths.items():
        _folder(path, size, size.layers if name == "target" else int(name.split("-")[1]), vocab, head, layers)
    return paths
