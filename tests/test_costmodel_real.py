"""The cost model's measurements on a real llama-server: verification in the loop (the setup again with synthetic
acceptance) and acceptance by position; and the fallback of a build without synthetic acceptance."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
from conftest import run_script
from records import loaded
from sweep_helpers import write_config

pytestmark = pytest.mark.server


def sweep(family, tmp_path, axis=None, **settings) -> list:
    config = write_config(family, tmp_path, drafts=[("1-layer", "draft-1")], max_tokens=48, **settings)
    data = json.load(open(config))
    if axis:
        data["drafts"][0]["axes"] = {"draft_max": axis}
    with open(config, "w") as fh:
        json.dump(data, fh)
    results = str(tmp_path / "r.json")
    done = run_script("sweep.py", "--config", config, "--results", results)
    assert done.returncode == 0, done.stderr
    return loaded(results)


def test_each_setup_is_measured_in_the_loop_and_by_position(llama_server, family, tmp_path, no_new_servers):
    runs = sweep(family, tmp_path, axis=[1, 3])
    setups = [r for r in runs if r.draft]
    assert len(setups) == 2
    for r in setups:
        twin = r.verify_in_loop
        assert twin.passes > 0 and twin.verify_ms_per_pass > 0
        assert twin.drafted_per_pass == pytest.approx(r.speculation.draft_max, abs=0.5)
        assert r.position_counts.passes > 0 and len(r.position_counts.accepted) <= r.speculation.draft_max
        assert (r.parts.verify_source, r.parts.acceptance_source) == ("in the loop", "by position (server counts)")
        assert "synthetic speculative acceptance is enabled" in open(r.log_path.replace(".log", "__in-loop.log")).read()
    assert runs[0].draft is None and runs[0].verify_in_loop is None  # the baseline has none


def test_a_build_without_synthetic_acceptance_falls_back_to_prompt_batches(llama_server, family, tmp_path, no_new_servers):
    """A wrapper answers --help without the synthetic flags and runs the real server."""
    help_text = subprocess.run([llama_server, "--help"], capture_output=True, text=True).stdout
    older = tmp_path / "help.txt"
    older.write_text("\n".join(line for line in help_text.splitlines() if "--spec-synth" not in line))
    wrapper = tmp_path / "llama-server"
    wrapper.write_text(f'#!/bin/sh\n[ "$1" = --help ] && exec cat "{older}"\nexec "{llama_server}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    runs = sweep(family, tmp_path, llama_bin=str(wrapper))
    setup = next(r for r in runs if r.draft)
    assert setup.verify_in_loop is None and setup.parts.verify_source == "prompt batches"
    assert not os.path.exists(setup.log_path.replace(".log", "__in-loop.log"))
