"""Hostile input, round two (issue 34): each row of the issue's table, as a rule. No server starts in these
tests: every case is refused before one would."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from conftest import run_script
from sweep_helpers import write_config

from draftbench.results.schema import SCHEMA_VERSION


def _digests(folder) -> dict[str, str]:
    return {
        p: hashlib.sha256(open(os.path.join(folder, p), "rb").read()).hexdigest()
        for p in sorted(os.listdir(folder))
        if os.path.isfile(os.path.join(folder, p))
    }


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
    values = {"c": config, "d": str(tmp_path), "r": str(tmp_path / "r.json"), "p": str(prompts), "m": family["draft-1"]}
    done = run_script("sweep.py", *args.format(**values).split())
    assert done.returncode == 2, done.stderr
    assert said.format(**values) in done.stderr and "Traceback" not in done.stderr
    assert "Starting server" not in done.stderr and _digests(tmp_path) == before


def test_secrets_are_masked_in_command_lines_and_urls():
    from draftbench.core.redaction import redact, redact_url

    said = redact(
        [
            "llama-server",
            "--hf-token",
            "t1",
            "-hft",
            "t2",
            "--api-key=t3",
            "--image-max-tokens",
            "9",
            "--keep",
            "5",
            "http://u:t4@h:1/x?api_key=t5&n=1",
        ]
    )
    assert not any(f"t{i}" in " ".join(said) for i in range(1, 6)) and "9" in said and "5" in said
    assert redact_url("http://user:pass@host:9/v1?token=zz&a=b") == "http://user:***@host:9/v1?token=***&a=b"


def test_a_token_flag_in_extra_args_appears_nowhere(llama_server, family, tmp_path, no_new_servers):
    """The build reads --hf-token from HF_TOKEN (its --help says so): the token goes to the server's environment,
    never its command line, so no log, results file, report or export can show it."""
    path = write_config(family, tmp_path, requests=2, max_tokens=8, extra_args=["--hf-token", "SECRET-T0KEN-1"])
    data = json.load(open(path))
    data["drafts"] = [{"label": "1-layer", "path": family["draft-1"], "extra_args": ["-hft", "SECRET-T0KEN-2"]}]
    json.dump(data, open(path, "w"))
    done = run_script("sweep.py", "--config", path, "--results", str(tmp_path / "r.json"), "--format", "md")
    assert done.returncode == 0, done.stderr
    written = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs if not f.endswith("t.json")]
    assert any(f.endswith(".log") for f in written) and any(f.endswith(".html") for f in written)
    for name in written:
        assert "SECRET-T0KEN" not in open(name, encoding="utf-8", errors="replace").read(), name
    assert "SECRET-T0KEN" not in done.stdout + done.stderr


def test_bench_masks_credentials_in_its_url():
    done = run_script("bench.py", "--url", "http://alice:hunter2@127.0.0.1:9/?api_key=zz", "--requests", "1")
    assert done.returncode != 0 and "hunter2" not in done.stderr + done.stdout and "zz" not in done.stderr
    assert "alice:***@127.0.0.1:9" in done.stderr and "Traceback" not in done.stderr


PASS_THROUGH = [  # (where the arguments go, the arguments, the field the message names)
    ("settings", ["-m", "DRAFT"], 'the target\'s "path"'),
    ("settings", ["--port", "8089"], "settings.port"),
    ("draft", ["--model-draft", "DRAFT"], 'the setup\'s "path"'),
    ("draft", ["--spec-draft-n-max=8"], '"draft_max"'),
    ("draft", ["--spec-type", "ngram-mod"], 'the setup\'s "spec_type"'),
    ("settings", ["-ngl", "0"], "settings.gpu_layers"),
]


@pytest.mark.parametrize("where, extra, field", PASS_THROUGH)
def test_pass_through_arguments_may_not_set_what_draftbench_manages(family, tmp_path, where, extra, field):
    path = write_config(family, tmp_path)
    data = json.load(open(path))
    extra = [family["draft-1"] if a == "DRAFT" else a for a in extra]
    (data["settings"] if where == "settings" else data["drafts"][0])["extra_args"] = extra
    json.dump(data, open(path, "w"))
    done = run_script("sweep.py", "--config", path, "--results", str(tmp_path / "r.json"), "--dry-run")
    assert done.returncode == 2 and field in done.stderr and "extra_args" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "r.json").exists()


def test_server_py_refuses_a_managed_flag_after_the_double_dash(family):
    done = run_script("server.py", "llama-cpp", "--model-path", family["target"], "--port", "0", "--", "--port", "8089")
    assert done.returncode == 2 and "--port is set by draftbench from settings.port" in done.stderr


@pytest.mark.parametrize("kind", ["missing", "folder", "not executable", "empty flag"])
def test_a_named_llama_server_that_cannot_run_is_refused_never_replaced(family, tmp_path, kind):
    odd = {"missing": str(tmp_path / "nope"), "folder": str(tmp_path), "not executable": str(tmp_path / "f")}
    (tmp_path / "f").write_text("#!/bin/sh\n")
    path = write_config(family, tmp_path, **({"llama_bin": ""} if kind == "empty flag" else {}))
    env = {} if kind == "empty flag" else {"LLAMA_SERVER": odd[kind]}
    done = run_script("sweep.py", "--config", path, "--results", str(tmp_path / "r.json"), "--dry-run", env=env)
    said = {
        "missing": "does not exist",
        "folder": "is a folder",
        "not executable": "is not executable",
        "empty flag": "is empty",
    }[kind]
    assert done.returncode != 0 and said in done.stderr and "Traceback" not in done.stderr, done.stderr


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("what", ["config", "prompts", "results", "compare"])
def test_json_nested_too_deep_is_a_clear_error(family, tmp_path, what):
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP if what != "prompts" else '{"prompt": ' + DEEP + "}\n")
    config = write_config(family, tmp_path, **({"prompts": str(deep)} if what == "prompts" else {}))
    good = tmp_path / "good.json"
    good.write_text(open(os.path.join(os.path.dirname(__file__), "data", "golden", "v7.json")).read())
    args = {
        "config": ["--config", str(deep), "--dry-run"],
        "prompts": ["--config", config, "--dry-run"],
        "results": ["--results", str(deep), "--chart-only"],
        "compare": ["--compare", str(deep), str(good), "--chart", str(tmp_path / "c.html")],
    }[what]
    done = run_script("sweep.py", *args)
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr, done.stderr[-2000:]
    assert "nested" in done.stderr
    if what == "compare":  # the readable file is still compared; the deep one is named and left out
        assert done.returncode == 1 and "left out" in done.stderr and (tmp_path / "c.html").exists()
    else:
        assert done.returncode == 2


@pytest.mark.parametrize(
    "version, said",
    [
        ('"7"', f'schema_version must be a whole number from 1 to {SCHEMA_VERSION}, got "7"'),
        ("99", "newer than this draftbench understands"),
    ],
)
def test_a_wrong_schema_version_is_named_for_what_it_is(tmp_path, version, said):
    text = open(os.path.join(os.path.dirname(__file__), "data", "golden", "v7.json")).read()
    path = tmp_path / "r.json"
    path.write_text(text.replace('"schema_version": 7', f'"schema_version": {version}'))
    done = run_script("sweep.py", "--results", str(path), "--chart-only")
    assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr


def _edited(tmp_path, change) -> str:
    data = json.load(open(os.path.join(os.path.dirname(__file__), "data", "golden", "v7.json")))
    change(data["results"])
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize("case", ["baseline removed", "baseline at 0 tok/s", "baseline under another target"])
def test_a_stored_speedup_without_its_baseline_is_not_shown(tmp_path, case):
    def change(runs):
        base = next(r for r in runs if r["draft"] is None)
        if case == "baseline removed":
            runs.remove(base)
        elif case == "baseline at 0 tok/s":
            base["mean_tps"] = 0
        else:
            base["target"] = "another target"

    from draftbench.results import evaluate

    _, ev = evaluate.load(_edited(tmp_path, change))
    setups = [r for r in ev.runs if r.draft is not None]
    assert setups and all(r.speedup is None and r.speedup_ci95 is None for r in setups)
    assert all(rec.use() is None for rec in ev.recommendations)


def test_a_speed_below_zero_is_a_schema_error_naming_the_run(tmp_path):
    path = _edited(tmp_path, lambda runs: runs[1].update(mean_tps=-5))
    done = run_script("sweep.py", "--results", path, "--chart-only")
    assert done.returncode == 2 and "results[1].mean_tps is -5, a speed below zero" in done.stderr
    path = _edited(tmp_path, lambda runs: runs[2]["requests"][0].update(decode_tps=-123.0))
    done = run_script("sweep.py", "--results", path, "--chart-only")
    assert done.returncode == 2 and "results[2].requests[0].decode_tps is -123.0" in done.stderr


DRY_RUN_REFUSES = [  # (settings or a draft's fields, what the refusal says)
    ({"settings": {"draft_min": 5, "draft_max": 2}}, "draft_min 5 is above draft_max 2"),
    ({"settings": {"concurrency": [1, 8], "requests": 4}}, "8 requests in flight at once, but a level measures only 4"),
    ({"settings": {"search": "adaptive", "block": 4, "requests": 4}}, "the adaptive search could never stop one early"),
    ({"axes": {"draft_max": [2, 4]}, "ngram_only": True}, "axes: draft_max applies to setups with a draft model"),
    ({"corrupt_results": True}, "is not valid JSON"),
]


@pytest.mark.parametrize("change, said", DRY_RUN_REFUSES)
def test_the_dry_run_refuses_what_the_run_refuses(family, tmp_path, change, said):
    path = write_config(family, tmp_path, **change.get("settings", {}))
    data = json.load(open(path))
    if "axes" in change:
        data["axes"] = change["axes"]
    if change.get("ngram_only"):
        data["drafts"] = [{"label": "ngram", "spec_type": "ngram-simple"}]
    json.dump(data, open(path, "w"))
    results = tmp_path / "r.json"
    if change.get("corrupt_results"):
        results.write_text('{"results": [')
    before = _digests(tmp_path)
    for extra in (["--dry-run"], []):
        done = run_script("sweep.py", "--config", path, "--results", str(results), *extra)
        assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert "Starting server" not in done.stderr and _digests(tmp_path) == before


def test_a_plan_too_large_is_refused_before_it_is_built(family, tmp_path):
    path = write_config(family, tmp_path)
    data = json.load(open(path))
    axes = {"draft_max": list(range(1, 101)), "draft_min": list(range(0, 100)), "draft_p_min": [i / 100 for i in range(100)]}
    data["drafts"] = [{"label": f"d{i}", "path": family["draft-1"], "axes": axes} for i in range(10)]
    json.dump(data, open(path, "w"))
    done = run_script("sweep.py", "--config", path, "--dry-run", timeout=60)
    assert done.returncode == 2 and "its axes make 1,000,000 setups" in done.stderr and "at most 1,000" in done.stderr


@pytest.mark.parametrize(
    "args, said",
    [
        (["bench.py", "--url", "127.0.0.1:9"], "must be a server's address with its scheme, such as http://127.0.0.1:9"),
        (["bench.py", "--url", "http://127.0.0.1:9", "--prompt", ""], "--prompt 1 is empty"),
        (["-m", "draftbench.synth", "--out", ""], "must be a folder"),
    ],
)
def test_misleading_inputs_get_their_own_words(args, said):
    done = run_script(*args)
    assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr


def test_synth_never_writes_over_a_file(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("mine")
    done = run_script("-m", "draftbench.synth", "--out", str(target))
    assert done.returncode == 2 and "must be a folder" in done.stderr and target.read_text() == "mine"


def test_a_program_that_is_not_llama_server_is_called_so(family, tmp_path):
    fake = tmp_path / "llama-server"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    path = write_config(family, tmp_path, llama_bin=str(fake))
    done = run_script("sweep.py", "--config", path, "--dry-run")
    assert done.returncode != 0 and "lists no llama-server options" in done.stderr and "update llama.cpp" not in done.stderr


def test_a_lock_left_with_a_live_programs_pid_is_not_called_dead(llama_server, family, tmp_path, no_new_servers):
    config = write_config(family, tmp_path, drafts=[], requests=1, max_tokens=4)
    (tmp_path / "r.json.lock").write_text("1\n")  # pid 1 is alive, and holds no lock on the file
    done = run_script("sweep.py", "--config", config, "--results", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    assert "from pid 1, which no longer holds it" in done.stderr and "no longer running" not in done.stderr


def test_a_report_into_a_folder_that_refuses_is_a_clear_error(tmp_path):
    """Root writes anywhere a permission allows, so the folder that refuses is /proc (it takes no new files)."""
    done = run_script(
        "sweep.py",
        "--results",
        os.path.join(os.path.dirname(__file__), "data", "golden", "v7.json"),
        "--chart-only",
        "--chart",
        "/proc/draftbench-report.html",
    )
    assert done.returncode == 2 and "cannot write /proc/draftbench-report.html" in done.stderr
    assert "--chart PATH" in done.stderr and "Traceback" not in done.stderr
