"""Hostile input, round two (issue 34): each row of the issue's table, as a rule. No server starts in these
tests: every case is refused before one would."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from conftest import run_script
from sweep_helpers import write_config


def _digests(folder) -> dict[str, str]:
    return {p: hashlib.sha256(open(os.path.join(folder, p), "rb").read()).hexdigest()
            for p in sorted(os.listdir(folder)) if os.path.isfile(os.path.join(folder, p))}


OUTPUT_OVER_INPUT = [  # (arguments, with {c} the config, {r} a results file, {p} the prompt file, {m} a model)
    ("--config {c} --results {d}/R.html", "--chart {d}/R.html is the same file as --results"),
    ("--config {c} --results {d}/r.json --chart {c}", "--chart {c} is the same file as --config"),
    ("--config {c} --results {d}/r.json --chart {p}", "is the same file as settings.prompts"),
    ("--config {c} --results {c}", "--results {c} is the same file as --config"),
    ("--config {c} --results {m}", "is the same file as the model file"),
    ("--config {c} --results {d}/r.json --chart {d}/link.json", "is the same file as --config"),  # a symlink
    ("--config {c} --results {d}/r.json --chart {d}/hard.json", "is the same file as --config"),  # a hard link
    ("--config {c} --results {d}/R.html --dry-run", "is the same file as --results"),
    ("--config {c} --results {d}/r.json --chart {c} --dry-run", "is the same file as --config"),
    ("--results {r} --chart-only --chart {r}", "--chart {r} is the same file as --results"),
    ("--compare {r} --chart {r}", "--chart {r} is the same file as --compare"),
]


@pytest.mark.parametrize("args, said", OUTPUT_OVER_INPUT)
def test_no_output_is_written_over_an_input_or_another_output(family, tmp_path, args, said):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Tell me about {w}."}) + "\n" for w in ("cats", "dogs", "owls")))
    config = write_config(family, tmp_path, prompts=str(prompts))
    (tmp_path / "r.json").write_text(open(os.path.join(os.path.dirname(__file__), "data", "golden", "v7.json")).read())
    os.symlink(config, tmp_path / "link.json")
    os.link(config, tmp_path / "hard.json")
    before = _digests(tmp_path)
    values = {"c": config, "d": str(tmp_path), "r": str(tmp_path / "r.json"), "p": str(prompts),
              "m": family["draft-1"]}
    done = run_script("sweep.py", *args.format(**values).split())
    assert done.returncode == 2, done.stderr
    assert said.format(**values) in done.stderr and "Traceback" not in done.stderr
    assert "Starting server" not in done.stderr and _digests(tmp_path) == before
