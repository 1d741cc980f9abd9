"""Prompts: the built-in suite (eight kinds of task, four prompts each), the schedule that spreads a run's
requests evenly over the kinds, and the fingerprint that keeps a resume from mixing prompt sets.
Acceptance depends on the text, so a run mixes kinds and results are also kept per kind."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    id: str
    category: str
    text: str
    messages: tuple[tuple[str, str], ...] = ()  # (role, content) pairs; empty: one user message with ``text``

    def chat(self) -> list[dict[str, str]]:
        if self.messages:
            return [{"role": role, "content": content} for role, content in self.messages]
        return [{"role": "user", "content": self.text}]


_RIVER = (
    "The river town grew around a ferry crossing. Traders came first, then a school, a mill and a "
    "railway station. When the bridge opened in 1931 the ferry closed, and within ten years the old "
    "market square had moved two streets east, closer to the new road."
)
_MEETING = (
    "Minutes: the team agreed to move the release from May 3 to May 17 because two payment tests still "
    "fail on the staging server. Priya will fix the currency rounding bug by Friday. Tom will write the "
    "migration guide. Support asked for a one-week notice before any change to the login page. The "
    "budget for the load-testing service was approved, capped at 400 euros a month."
)
_SPEC = (
    "The device measures air temperature every ten seconds and humidity every minute. It stores the last "
    "seven days on its own memory card and uploads a summary every hour over Wi-Fi. When the battery falls "
    "below fifteen percent it stops uploading and keeps measuring. A red light means the card is full."
)
_CODE = (
    "def total(items):\n    t = 0\n    for i in range(len(items)):\n        if items[i]['qty'] > 0:\n"
    "            t = t + items[i]['qty'] * items[i]['price']\n    return t\n"
)


def _p(pid: str, category: str, text: str) -> Prompt:
    return Prompt(pid, category, text)


BUILTIN: tuple[Prompt, ...] = (
    _p("code-fib", "code", "Write a Python function that returns the first n Fibonacci numbers, with a docstring "
       "and a short test."),
    _p("code-sql", "code", "Write an SQL query that lists the ten customers with the highest total order value, "
       "and explain each clause."),
    _p("code-lru", "code", "Implement a small least-recently-used cache class in Python with get and put methods "
       "and a fixed capacity."),
    _p("code-parse", "code", "Write a JavaScript function that parses a query string such as 'a=1&b=two' into an "
       "object, handling repeated keys as arrays."),
    _p("json-books", "json", "Return a JSON array of six objects describing books, each with the keys title, author, "
       "year and isbn. Output only JSON."),
    _p("json-server", "json", "Write a JSON configuration for a web server with keys for host, port, TLS settings, "
       "logging and three routes."),
    _p("json-recipe", "json", "Describe a pancake recipe as JSON with the keys name, servings, ingredients (a list of "
       "objects with item and amount) and steps. Output only JSON."),
    _p("json-table", "json", "Make a Markdown table of the eight planets with columns for name, diameter in km and "
       "number of moons."),
    _p("math-train", "math", "A train travels 180 km in 2.5 hours, then 120 km in 1.5 hours. Work out its average "
       "speed step by step."),
    _p("math-price", "math", "A jacket costs 80 dollars, is discounted by 25%, and then taxed at 8%. Compute the "
       "final price step by step."),
    _p("math-tank", "math", "A tank holds 1,200 litres. One pipe fills it in 6 hours and another empties it in 10 "
       "hours. With both open, how long does it take to fill from empty? Show the working."),
    _p("math-series", "math", "Find the sum of all multiples of 3 or 5 below 100, explaining the method."),
    _p("sum-river", "summarize", f"Summarise this passage in three sentences:\n\n{_RIVER}"),
    _p("sum-minutes", "summarize", f"List the decisions and the owners of each task in these minutes:\n\n{_MEETING}"),
    _p("sum-spec", "summarize", f"Summarise this product description for a buyer in two sentences:\n\n{_SPEC}"),
    _p("sum-tldr", "summarize", f"Give a one-line summary, then three bullet points, of this text:\n\n{_MEETING}"),
    _p("tr-fr", "translate", f"Translate into French:\n\n{_RIVER}"),
    _p("tr-de", "translate", f"Translate into German:\n\n{_SPEC}"),
    _p("tr-es", "translate", "Translate into Spanish: 'The museum opens at nine, but the garden stays closed until "
       "the spring. Tickets bought online are valid for a whole day.'"),
    _p("tr-en", "translate", "Translate into English: 'Der Zug nach Hamburg hat heute zwanzig Minuten Verspätung, "
       "weil ein Baum auf den Gleisen liegt.'"),
    _p("qa-tides", "qa", "Why are there two high tides a day in most places? Answer in a short paragraph."),
    _p("qa-bread", "qa", "What does yeast do in bread dough, and why does dough need time to rise?"),
    _p("qa-cpu", "qa", "What is the difference between a CPU cache and main memory, and why does it matter for "
       "program speed?"),
    _p("qa-rainbow", "qa", "How does a rainbow form, and why is the red band on the outside?"),
    _p("rw-formal", "rewrite", f"Rewrite this passage in a formal, academic tone, keeping every fact:\n\n{_RIVER}"),
    _p("rw-typos", "rewrite", "Correct the spelling and grammar, changing nothing else:\n\nThe comittee have "
       "decided that the new libary will open on monday. Their is still alot of books to unpack, and the "
       "volunteers is asked to come early."),
    _p("rw-code", "rewrite", f"Rename the variables in this function to descriptive names and add type hints; "
       f"return the whole function:\n\n{_CODE}"),
    _p("rw-bullets", "rewrite", f"Turn these minutes into a bulleted list, one bullet per sentence, keeping the "
       f"wording:\n\n{_MEETING}"),
    _p("wr-lighthouse", "writing", "Write a short story about a lighthouse keeper who finds a message in a bottle."),
    _p("wr-email", "writing", "Write a polite email to a landlord asking for a broken heater to be repaired this "
       "week."),
    _p("wr-packing", "writing", "Make a numbered checklist of twelve things to pack for a week of hiking in the "
       "mountains."),
    _p("wr-chat", "writing", "I just moved to a new city and feel a bit lonely. Any ideas for meeting people?"),
)


def custom(texts: list[str]) -> tuple[Prompt, ...]:
    return tuple(Prompt(f"custom-{i + 1}", "custom", t) for i, t in enumerate(texts))


def categories(suite: tuple[Prompt, ...]) -> list[str]:
    """The suite's categories, in order of first appearance."""
    return list(dict.fromkeys(p.category for p in suite))


def balanced(suite: tuple[Prompt, ...]) -> list[Prompt]:
    """The suite interleaved by category (one of each kind in turn), so any stretch of the schedule has
    every category within one request of the others."""
    groups = [[p for p in suite if p.category == c] for c in categories(suite)]
    return [g[i] for i in range(max(map(len, groups), default=0)) for g in groups if i < len(g)]


def select(suite: tuple[Prompt, ...], wanted: tuple[str, ...]) -> tuple[Prompt, ...]:
    """The prompts of the ``wanted`` categories (all when empty); unknown names raise ValueError."""
    if not wanted:
        return suite
    known = categories(suite)
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise ValueError(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)} "
                         f"(this prompt set has: {', '.join(known)})")
    return tuple(p for p in suite if p.category in wanted)


def schedule(suite: tuple[Prompt, ...], count: int, offset: int = 0) -> list[Prompt]:
    """``count`` prompts cycling through the balanced suite from ``offset``. When the suite is too small to avoid
    sending the same text twice in a row, later repeats get a numbered prefix so each request differs."""
    if not suite:
        raise ValueError("empty prompt suite")
    order = balanced(suite)
    out = []
    for i in range(count):
        p = order[(offset + i) % len(order)]
        rnd = (offset + i) // len(order)
        if rnd and len(order) < 2:
            p = Prompt(f"{p.id}#{rnd}", p.category, f"Request {rnd + 1}. {p.text}", p.messages)
            if p.messages:
                p = Prompt(p.id, p.category, p.text, ((p.messages[0][0], f"Request {rnd + 1}. {p.messages[0][1]}"),
                                                      *p.messages[1:]))
        out.append(p)
    return out


def fingerprint(suite: tuple[Prompt, ...]) -> str:
    """A short content hash of a prompt set: part of a sweep's comparable settings."""
    data = json.dumps([[p.id, p.category, p.text, [list(m) for m in p.messages]] for p in suite], ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]
