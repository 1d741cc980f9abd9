"""The synthetic family's tokenizer: an SPM vocabulary of common English words, their prefixes and bytes."""

from __future__ import annotations

from pathlib import Path

_WORDS = (Path(__file__).parent / "words.txt").read_text(encoding="utf-8")  # common English words
SPECIALS = ["<unk>", "<s>", "</s>"]


def word_list(n: int) -> list[str]:
    words, seen = [], set()
    for w in _WORDS.split():
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words[:n]


def build_vocab(n_words: int, variant: int = 0) -> tuple[list[str], list[float], list[int], list[int]]:
    """SPM vocabulary: specials, 256 byte tokens, letters, then '▁word' pieces and all their prefixes.

    Returns tokens, scores, token types and the ids of the whole-word tokens.
    ``variant`` != 0 yields a different vocabulary (for vocab-mismatch tests).
    """
    tokens = list(SPECIALS)
    types = [2, 3, 3]  # unknown, control, control
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [6] * 256  # byte
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    words = word_list(n_words)
    if variant:
        words = [w[::-1] + "x" for w in words]
    pieces = ["▁" + w for w in words]
    seen = set(tokens)
    ordered = []
    for piece in letters + pieces:
        for end in range(1, len(piece) + 1):
            prefix = piece[:end]
            if prefix not in seen:
                seen.add(prefix)
                ordered.append(prefix)
    tokens += ordered
    types += [1] * len(ordered)
    scores = [0.0] * len(SPECIALS) + [0.0] * 256 + [float(len(t)) for t in ordered]
    index = {t: i for i, t in enumerate(tokens)}
    return tokens, scores, types, [index[p] for p in pieces]
