"""Output health: would a user accept this text? A speedup measured on degenerate output (a model echoing its
prompt, printing its chat template's markers, or looping) is no speedup anyone will see: n-gram drafting in
particular predicts such text perfectly. Pure: text in, figures and reasons out.

Per completion, on its words (whitespace-separated):

* **markers**: chat-template and special-token markers that a working template never lets through
  (``<|im_start|>``, ``<|eot_id|>``, ``[INST]``, ``<start_of_turn>``, ...). Any one flags the text.
* **echo**: the completion restates the prompt: it contains the prompt's opening (its first 8 words, in
  order) and at least half of the prompt's 8-word sequences (a prompt of 5 to 7 words: all of it, in order).
  Quoting part of a prompt (code to fix, a text to summarise) does not reproduce its opening instruction, so
  it is not an echo.
* **repeat share**: the share of the completion's words covered by an 8-word sequence seen earlier in
  the same completion. Loops are near 1; code with a few repeated lines stays well below.
* **distinct ratio**: distinct words over words.

A completion **loops** when its repeat share is at least ``LOOP_REPEAT`` and its distinct ratio below
``LOOP_DISTINCT`` (both, so long regular code or tables are not flagged), over at least ``MIN_WORDS`` words.
A run is **degenerate** when at least half of its measured completions are flagged, or when any one carries
template markers (a working template never lets one through: one is proof that it is broken)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

MARKERS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|begin_of_text|>",
    "[INST]",
    "[/INST]",
    "<start_of_turn>",
    "<end_of_turn>",
    "<|user|>",
    "<|assistant|>",
    "<|system|>",
    "<|end|>",
    "<|eos|>",
    "<|turn>",
    "<turn|>",
    "<｜User｜>",
    "<｜Assistant｜>",
)
N = 8  # words per sequence for echo and repeats
MIN_WORDS = 24  # shorter completions are too short to call a loop
LOOP_REPEAT = 0.6
LOOP_DISTINCT = 0.3
ECHO_SHARE = 0.5
MIN_ECHO_WORDS = 5  # a shorter prompt repeated proves little ("Name three primes.")
FIX = (
    "fix the chat template (a GGUF without one falls back to ChatML: give llama-server --chat-template NAME, "
    'or --jinja --chat-template-file FILE, in extra_args) or measure raw text with settings "endpoint": '
    '"completion"; look at the outputs at temperature 0'
)


@dataclass(frozen=True)
class Health:
    """One completion's figures and what is wrong with it (empty: healthy)."""

    markers: tuple[str, ...]
    echo_share: float  # share of the prompt's 8-word sequences found in the completion
    echoes_opening: bool  # the prompt's first 8 words appear in the completion, in order
    repeat_share: float
    distinct_ratio: float
    words: int

    @property
    def problems(self) -> tuple[str, ...]:
        out = []
        if self.markers:
            out.append("template markers in the output (" + ", ".join(self.markers) + ")")
        if self.echoes_opening and self.echo_share >= ECHO_SHARE:
            out.append("the completion repeats the prompt")
        if self.words >= MIN_WORDS and self.repeat_share >= LOOP_REPEAT and self.distinct_ratio < LOOP_DISTINCT:
            out.append("the completion repeats itself")
        return tuple(out)


def _grams(words: Sequence[str], n: int = N) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def repeat_share(words: Sequence[str], n: int = N) -> float:
    """Share of the words covered by an ``n``-word sequence that occurred earlier in the same text."""
    if len(words) < 2 * n:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    covered = [False] * len(words)
    for i, gram in enumerate(_grams(words, n)):
        if gram in seen:
            covered[i : i + n] = [True] * n
        seen.add(gram)
    return sum(covered) / len(words)


def check(text: str, prompt: str = "") -> Health:
    """The figures of one completion ``text`` of ``prompt``."""
    words = text.split()
    asked = prompt.split()
    prompt_grams = set(_grams(asked))
    joined = f" {' '.join(words)} "
    opening = f" {' '.join(asked[:N])} "
    if prompt_grams:
        echo = len(prompt_grams & set(_grams(words))) / len(prompt_grams)
    else:  # shorter than one sequence: all of it, or nothing
        echo = 1.0 if len(asked) >= MIN_ECHO_WORDS and opening in joined else 0.0
    return Health(
        markers=tuple(m for m in MARKERS if m in text),
        echo_share=echo,
        echoes_opening=len(asked) >= MIN_ECHO_WORDS and opening in joined,
        repeat_share=repeat_share(words),
        distinct_ratio=len(set(words)) / len(words) if words else 1.0,
        words=len(words),
    )


def verdict(problems: Iterable[tuple[str, ...]]) -> str | None:
    """A run's verdict from its completions' problems: the most common problem when at least half are flagged
    ('the model echoes its prompt'), else None."""
    flagged = list(problems)
    bad = [p for p in flagged if p]
    marked = any(reason.startswith("template markers") for p in bad for reason in p)
    if not flagged or (len(bad) * 2 < len(flagged) and not marked):
        return None
    counts: dict[str, int] = {}
    for p in bad:
        for reason in p:
            counts[reason] = counts.get(reason, 0) + 1
    top = max(counts, key=lambda k: counts[k])
    return f"{len(bad)} of {len(flagged)} completions degenerate: {top}"
