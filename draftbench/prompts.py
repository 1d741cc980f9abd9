"""A built-in suite of distinct prompts. Acceptance differs by kind of text, so a run mixes them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    id: str
    category: str
    text: str


_PASSAGE = (
    "The river town grew around a ferry crossing. Traders came first, then a school, a mill and a "
    "railway station. When the bridge opened in 1931 the ferry closed, and within ten years the old "
    "market square had moved two streets east, closer to the new road."
)

BUILTIN: tuple[Prompt, ...] = (
    Prompt("code-fib", "code", "Write a Python function that returns the first n Fibonacci numbers, with a docstring and a short test."),
    Prompt("json-inventory", "json", "Return a JSON array of six objects describing books, each with the keys title, author, year and isbn. Output only JSON."),
    Prompt("list-packing", "list", "Make a numbered checklist of twelve things to pack for a week of hiking in the mountains."),
    Prompt("prose-lighthouse", "prose", "Write a short story about a lighthouse keeper who finds a message in a bottle."),
    Prompt("summary-river", "rewrite", f"Summarise this passage in three sentences:\n\n{_PASSAGE}"),
    Prompt("math-train", "arithmetic", "A train travels 180 km in 2.5 hours, then 120 km in 1.5 hours. Work out its average speed step by step."),
    Prompt("code-sql", "code", "Write an SQL query that lists the ten customers with the highest total order value, and explain each clause."),
    Prompt("table-planets", "list", "Make a Markdown table of the eight planets with columns for name, diameter in km and number of moons."),
    Prompt("prose-email", "prose", "Write a polite email to a landlord asking for a broken heater to be repaired this week."),
    Prompt("rewrite-formal", "rewrite", f"Rewrite this passage in a formal, academic tone:\n\n{_PASSAGE}"),
    Prompt("math-percent", "arithmetic", "A jacket costs 80 dollars, is discounted by 25%, and then taxed at 8%. Compute the final price step by step."),
    Prompt("json-config", "json", "Write a JSON configuration for a web server with keys for host, port, TLS settings, logging and three routes."),
)


def custom(texts: list[str]) -> tuple[Prompt, ...]:
    return tuple(Prompt(f"custom-{i + 1}", "custom", t) for i, t in enumerate(texts))


def schedule(suite: tuple[Prompt, ...], count: int, offset: int = 0) -> list[Prompt]:
    """``count`` prompts cycling through ``suite`` from ``offset``. When the suite is too small to avoid
    sending the same text twice in a row, later repeats get a numbered prefix so each request differs."""
    if not suite:
        raise ValueError("empty prompt suite")
    out = []
    for i in range(count):
        p = suite[(offset + i) % len(suite)]
        rnd = (offset + i) // len(suite)
        if rnd and len(suite) < 2:
            p = Prompt(f"{p.id}#{rnd}", p.category, f"Request {rnd + 1}. {p.text}")
        out.append(p)
    return out
