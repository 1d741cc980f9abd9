"""Step costs from a running llama-server, for the cost model.

``v(k)``, the cost of one forward pass over a batch of k tokens relative to a single token, is read
from the server's own prompt timings: a k-token prompt (token ids, no chat template, no prompt
cache) is one batch. Each size is measured ``repeats`` times in interleaved order and the median
kept, so v(1) = 1 by construction. Note: a prompt batch computes logits for its last token only,
where a verification batch needs all of them; for large vocabularies v(k) is a slight underestimate.
"""

from __future__ import annotations

import statistics

import requests

BATCH_SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 17)
REPEATS = 3
FILLER = " ".join(["the quick brown fox jumps over the lazy dog and keeps on running"] * 4)


def _post(session: requests.Session, url: str, body: dict, headers: dict, timeout_s: float) -> dict:
    resp = session.post(url, json=body, headers=headers, timeout=timeout_s)
    resp.raise_for_status()
    return resp.json()


def verify_costs(url: str, api_key: str | None = None, timeout_s: float = 120.0,
                 sizes: tuple[int, ...] = BATCH_SIZES, repeats: int = REPEATS) -> dict[int, float] | None:
    """{k: v(k)} for a llama-server at ``url``; None when the server does not give prompt timings."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    url = url.rstrip("/")
    try:
        with requests.Session() as session:
            tokens = _post(session, url + "/tokenize", {"content": FILLER}, headers, timeout_s).get("tokens") or []
            if len(tokens) < max(sizes):
                return None
            times: dict[int, list[float]] = {k: [] for k in sizes}
            for _ in range(repeats):
                for k in sizes:
                    body = {"prompt": tokens[:k], "n_predict": 1, "cache_prompt": False, "temperature": 0}
                    timings = _post(session, url + "/completion", body, headers, timeout_s).get("timings") or {}
                    if timings.get("prompt_n") != k or not timings.get("prompt_ms"):
                        return None
                    times[k].append(float(timings["prompt_ms"]))
    except (requests.RequestException, ValueError):
        return None
    step = statistics.median(times[sizes[0]])
    return {k: statistics.median(times[k]) / step for k in sizes} if step > 0 else None
