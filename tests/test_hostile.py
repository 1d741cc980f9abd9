"""Hostile but realistic input, row by row as issue 21 lists it: each case ends with a one-line error that names
the file, field or flag, exit status 2 (1 for a failed measurement), no traceback, and every file that existed
before unchanged. None of these start a server. Row 1 (a label that now names another model file, also through
a symlinked results file) runs a real sweep first: tests/test_sweep_real.py; row 5: tests/test_report.py; row 8:
tests/test_config.py; rows 11 and 20 (servers that are not llama-server): tests/faults/test_foreign_servers.py."""

from __future__ import annotations

import json
import os
import stat

import pytest
from cli_helpers import call, snapshot

from draftbench.core import files, limits
from draftbench.core.redaction import csv_cell, md_cell

ESC, RLO = "\x1b[31m", "\u202e"


def results_file(folder, runs, **meta) -> str:
    path = os.path.join(str(folder), "r.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"schema_version": 5, "hardware": "box", "name": "t", "results": runs, **meta}, fh)
    return path


def run(target="T", draft=None, tps=10.0, **fields):
    return {"target": target, "draft": draft, "mean_tps": tps, "n_requests": 2, **fields}


def refused(status, err, *needles):
    assert status == 2, err
    assert "Traceback" not in err and err.startswith(("error:", "usage:")), err
    for needle in needles:
        assert needle in err, (needle, err)


# ---- row 2 and 17: results files that lie --------------------------------------------------------------------------
def config_for(family, folder, **settings) -> str:
    from sweep_helpers import write_config

    return write_config(family, folder, drafts=[], llama_bin="/nonexistent/llama-server", **settings)


def test_row2_resuming_a_file_without_settings_is_refused_and_the_file_kept(family, tmp_path):
    config = config_for(family, tmp_path)
    label = json.load(open(config))["targets"][0]["label"]
    path = results_file(tmp_path, [run(label)], schema_version=4, hardware="testbox")
    before = snapshot(str(tmp_path))
    status, _, err = call("sweep.py", "--config", config, "--results", path)
    refused(status, err, "settings (the file records none", "--fresh")
    assert snapshot(str(tmp_path)) == before


@pytest.mark.parametrize(
    "bad, field",
    [
        ("NaN", "results[0].mean_tps"),
        ("1e309", "results[0].mean_tps"),
        ("-Infinity", "results[0].mean_tps"),
    ],
)
def test_row2_row17_a_non_finite_number_is_refused_naming_the_run_and_field(family, tmp_path, bad, field):
    path = results_file(tmp_path, [run("T", tps=1.5)])
    with open(path) as fh:
        text = fh.read().replace("1.5", bad)
    with open(path, "w") as fh:
        fh.write(text)
    config = config_for(family, tmp_path)
    before = snapshot(str(tmp_path))
    for argv in (["--results", path, "--chart-only"], ["--config", config, "--results", path]):
        status, _, err = call("sweep.py", *argv)
        refused(status, err, f"{field} is not a finite number", path)
        assert snapshot(str(tmp_path)) == before


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"categories": [1, 2]}, "results[0].categories must be an object or null"),
        ({"categories": {"code": 3}}, "results[0].categories.code must be an object"),
        ({"mean_tps": "fast"}, "results[0].mean_tps must be a number or null"),
        ({"requests": [{"prompt_id": "a", "decode_tps": [1]}]}, "results[0].requests[0].decode_tps must be a number"),
        ({"requests": "all of them"}, "results[0].requests must be a list or null"),
        ({"speedup_ci95": [1.0, "x"]}, "results[0].speedup_ci95[1] must be a number"),
        ({"pruned": "yes"}, "results[0].pruned must be true or false"),
    ],
)
def test_row17_a_field_of_the_wrong_type_is_a_schema_error(tmp_path, fields, message):
    path = results_file(tmp_path, [run(**fields)])
    before = snapshot(str(tmp_path))
    status, _, err = call("sweep.py", "--results", path, "--chart-only")
    refused(status, err, message)
    assert snapshot(str(tmp_path)) == before and len(err.strip().splitlines()) == 1


# ---- rows 3 and 4: paths that are not what they seem ---------------------------------------------------------------
def test_row3_writing_goes_through_a_symlink_and_a_loop_is_refused(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    files.write_text_atomic(str(link), "new")
    assert link.is_symlink() and real.read_text() == "new"
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    with pytest.raises(files.OutputFileError, match="loop"):
        files.write_text_atomic(str(loop), "x")
    path = results_file(tmp_path, [run()])
    chart_link = tmp_path / "chart.html"
    chart_link.symlink_to(tmp_path / "elsewhere.html")  # a link to a file not there yet: written through
    status, _, err = call("sweep.py", "--results", path, "--chart-only", "--chart", str(chart_link))
    assert status == 0, err
    assert chart_link.is_symlink() and "<html" in (tmp_path / "elsewhere.html").read_text()
    status, _, err = call("sweep.py", "--results", str(loop), "--chart-only")
    refused(status, err, "loop")


def test_row4_a_fifo_or_a_device_is_never_read_or_replaced(family, tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    config = config_for(family, tmp_path)
    for argv in (
        ["--results", str(fifo), "--chart-only"],  # reading a FIFO would hang
        ["--config", config, "--results", str(fifo)],
        ["--config", config, "--results", "/dev/null"],
        ["--results", results_file(tmp_path, [run()]), "--chart-only", "--chart", str(fifo)],
    ):
        status, _, err = call("sweep.py", *argv)
        refused(status, err, "not a regular file")
        assert stat.S_ISFIFO(os.stat(fifo).st_mode) and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    status, _, err = call("bench.py", "--prompts-file", str(fifo))
    refused(status, err, "FIFO")
    status, _, err = call("sweep.py", "--config", str(fifo), "--dry-run")
    refused(status, err, "FIFO")


# ---- row 6: labels that are terminal escapes or HTML ---------------------------------------------------------------
def test_row6_every_text_output_escapes_labels(tmp_path):
    hostile = f'{ESC}red{RLO}txt <img src=x onerror=alert(1)> | =HYPERLINK("http://x")'
    path = results_file(tmp_path, [run(hostile), run(hostile, hostile, 20.0, speedup=2.0)], hardware=f"<b>{ESC}</b>")
    for fmt in ("md", "csv"):
        status, out, err = call("sweep.py", "--results", path, "--chart-only", "--format", fmt)
        assert status == 0, err
        assert hostile not in out and ESC not in out + err and RLO not in out + err and "\\x1b[31m" in out
    status, out, _ = call("sweep.py", "--results", path, "--chart-only", "--format", "md")
    assert "<img" not in out and "&lt;img" in out
    status, out, err = call("sweep.py", "--compare", path, "--format", "md", "--chart", str(tmp_path / "c.html"))
    assert status == 0, err
    assert "<img" not in out and "<b>" not in out and ESC not in out + err and "&lt;img" in out
    assert md_cell("a|b") == "a\\|b" and csv_cell("=cmd()") == "'=cmd()" and csv_cell("-3.5") == "-3.5"
    status, out, _ = call("sweep.py", "--compare", path, "--format", "csv", "--chart", str(tmp_path / "c.html"))
    assert ESC not in out and "'=HYPERLINK" not in out.split(",")[0]


# ---- rows 7, 9, 12-16: values out of bounds ------------------------------------------------------------------------
def test_row7_row9_a_prompts_file_that_is_not_utf8_or_empty(tmp_path):
    bad, empty = tmp_path / "bad.txt", tmp_path / "empty.txt"
    bad.write_bytes(b"caf\xe9\n")
    empty.write_text("\n  \n")
    status, _, err = call("bench.py", "--prompts-file", str(bad))
    refused(status, err, "--prompts-file", "not UTF-8 text (byte 3)")
    status, _, err = call("bench.py", "--prompts-file", str(empty))
    refused(status, err, "has no prompts")


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--port", "70000"], "argument --port: must be at most 65535, got 70000"),
        (["--port", "-5"], "argument --port: must be at least 0 (0 picks a free port), got -5"),
        (["--ctx-size", "-1"], "argument --ctx-size: must be at least 64"),
        (["--ready-timeout", "0"], "argument --ready-timeout: must be at least 1"),
        (["--ready-timeout", "nan"], "argument --ready-timeout: must be a finite number"),
        (["--draft-max", "1e9"], "argument --draft-max: must be an integer"),
        (["--host", "not a host!"], "argument --host: invalid host 'not a host!'"),
    ],
)
def test_row12_row13_server_flags_have_the_configs_bounds(argv, needle):
    status, _, err = call("server.py", "llama-cpp", "--model-path", "m.gguf", *argv)
    assert status == 2 and needle in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    "settings, needle",
    [
        ({"ctx_size": 10**20}, "settings.ctx_size: must be at most 16777216"),
        ({"ctx_size": 1e20}, "settings.ctx_size: must be an integer"),
        ({"requests": 10**20}, "settings.requests: must be at most 100000"),
        ({"max_tokens": 10**46}, "settings.max_tokens: must be at most"),
        ({"temperature": float("nan")}, "settings.temperature: must be a finite number"),
        ({"temperature": float("inf")}, "settings.temperature: must be a finite number"),
        ({"host": "not a host!"}, "settings.host: invalid host 'not a host!'"),
        ({"concurrency": [1, 5000]}, "settings.concurrency: must be an integer from 1 to 1024"),
    ],
)
def test_row10_row14_row15_config_values_out_of_bounds(family, tmp_path, settings, needle):
    config = config_for(family, tmp_path, **settings)
    status, out, err = call("sweep.py", "--config", config, "--dry-run")
    refused(status, err, needle, config)
    assert out == ""


def test_row14_every_bounded_setting_is_refused_just_above_its_bound():
    from draftbench.setup.settings import parse_settings
    from draftbench.setup.speculation import AXES

    for name, limit in {**limits.LIMITS, **{a.name: a.limit for a in AXES.values()}}.items():
        if name in ("draft_p_min",):
            continue
        problems: list[str] = []
        over = int(limit.high) + 1 if limit.kind is int else limit.high * 2
        parse_settings({name: over}, problems)
        assert len(problems) == 1 and problems[0].startswith(f"settings.{name}:"), (name, problems)
        assert parse_settings({name: limit.kind(limit.high)}, []) is not None


def test_row16_a_draft_with_a_path_and_a_model_free_type_names_the_fix(family, tmp_path):
    from sweep_helpers import write_config

    config = write_config(family, tmp_path, drafts=[("d", "draft-1")])
    data = json.load(open(config))
    data["drafts"][0]["spec_type"] = "ngram-mod"
    with open(config, "w") as fh:
        json.dump(data, fh)
    status, _, err = call("sweep.py", "--config", config, "--dry-run")
    refused(status, err, '("draft-simple,ngram-mod")')
    assert "{raw}" not in err


# ---- row 18: flags a mode would ignore ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, needle",
    [
        (
            ["--compare", "x.json", "--fresh", "--adaptive", "--results", "x.json"],
            "--results, --fresh and --adaptive cannot be combined with --compare",
        ),
        (["--config-dir", "d", "--results", "r.json"], "--results cannot be combined with --config-dir"),
        (["--config-dir", "d", "--chart", "r.html"], "--chart cannot be combined with --config-dir"),
        (["--config", "c.json", "--chart-only", "--results", "r.json"], "--chart-only cannot be combined with --config"),
        (["--results", "r.json", "--chart-only", "--fresh"], "--fresh cannot be combined with --chart-only"),
        (["--demo", "--dry-run"], "--dry-run cannot be combined with --demo"),
    ],
)
def test_row18_conflicting_flags_are_refused(tmp_path, argv, needle):
    status, _, err = call("sweep.py", *argv)
    assert status == 2 and needle in err, err
    assert not os.path.exists("x.json") and not os.path.exists("compare.html")


# ---- cosmetic ----------------------------------------------------------------------------------------------------
def test_a_json_error_reads_as_one_sentence(tmp_path):
    config = tmp_path / "c.json"
    config.write_text('{"name": "x", "targets": [{"label": "a\n')
    status, _, err = call("sweep.py", "--config", str(config), "--dry-run")
    refused(status, err, "(line 1, column")
    assert "at at" not in err


def test_a_failed_run_is_not_counted_as_to_go(family, tmp_path):
    from sweep_helpers import write_config

    from draftbench.results.schema import RunResult
    from draftbench.setup.config import load_config
    from draftbench.sweep.runner import Sweep

    sweep = Sweep(load_config(write_config(family, tmp_path, drafts=[("d", "draft-1")])), str(tmp_path / "r.json"))
    base, setup = (cell.key for cell in sweep.plan)
    sweep.runs[base] = RunResult(*base[:2], error="server failed to start")
    assert sweep._to_go(base) and sweep._to_go(setup)  # from an earlier session: retried, so still to go
    sweep.settled.add(base)
    assert not sweep._to_go(base) and sweep._to_go(setup)
    sweep.runs[setup] = RunResult(*setup[:2], mean_tps=3.0, in_progress=True)
    sweep.settled.add(setup)
    assert sweep._to_go(setup)  # paused between blocks: its remaining blocks are still to go


def test_row17_null_where_a_value_is_declared_reads_as_its_default(tmp_path):
    path = results_file(tmp_path, [run(concurrency=None, pruned=None, requests=None, warnings=None), run(draft="d")])
    from draftbench.results.jsonfile import load_results

    base = load_results(path)[1][0]
    assert (base.concurrency, base.pruned, base.requests, base.warnings) == (1, False, [], [])
    status, out, err = call("sweep.py", "--results", path, "--chart-only", "--format", "csv")
    assert status == 0 and out.count("\n") == 3, err
