"""Generated hostile input (Hypothesis): configs, prompt files, results files and argument lists, each run
through the real command-line entry points in this process. Invariants, for every example:
- no traceback: any exception other than argparse's exit fails the example;
- the exit status is 0, 1 or 2, and a non-zero one comes with an error line on stderr;
- a results file that existed before is byte-identical afterwards, unless the command's purpose was to write it
  (a sweep that measured); a FIFO, a device node or a symlink is never replaced.
No server starts: finding llama-server and starting any server process are replaced by errors for the duration
(and a sweep whose config survives validation then records that failure as data, as it would for a real one).

Example counts are fixed and the search derandomised, so CI is repeatable; DRAFTBENCH_FUZZ_EXAMPLES=N runs N
random examples per test instead, to look further."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import zlib
from unittest import mock

import pytest

hypothesis = pytest.importorskip("hypothesis")
from cli_helpers import call, snapshot  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from draftbench.errors import ServerStartError  # noqa: E402
from draftbench.records.requests import RequestResult  # noqa: E402
from draftbench.results.jsonfile import dump_results
from draftbench.results.schema import CategoryResult, FileMeta, RunResult  # noqa: E402
from draftbench.server import llama_bin, process  # noqa: E402
from draftbench.setup.config import parse_config  # noqa: E402

_DEEP = int(os.environ.get("DRAFTBENCH_FUZZ_EXAMPLES", "0"))


def examples(n: int):
    return settings(
        max_examples=_DEEP or n,
        derandomize=not _DEEP,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# ---- values ------------------------------------------------------------------------------------------------------
TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "x",
            "\x1b[31mred",
            "a\u202eb",
            "<img src=x>",
            "../../etc/passwd",
            "NaN",
            "{raw}",
            "a" * 300,
            "\U0001f642",
            "\x00",
            "draft-simple",
            "ngram-mod",
            "none",
            "localhost",
            "not a host!",
            "code",
        ]
    ),
    st.text(max_size=12),
)
NUMBER = st.one_of(
    st.integers(-(10**22), 10**22),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 2, 3, 64, 0.5, 2**31, 2**63, 10**20, 65536, 1e-9]),
)
LEAF = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
JSON = st.recursive(
    LEAF, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=8
)


with open(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "llama-server-help-b11434.txt"), encoding="utf-8"
) as _fh:
    RECORDED = (llama_bin.parse_help(_fh.read()), "version: 11434 (recorded --help)")


@contextlib.contextmanager
def sandbox(tmp: str):
    """Run with ``tmp`` as the working folder, llama-server's flags read from its recorded ``--help`` (b11434),
    and no way to start a server: a sweep that gets that far records each failed start as data."""
    here = os.getcwd()
    with (
        mock.patch.object(llama_bin, "find_llama_server", return_value="/fuzz/llama-server"),
        mock.patch.object(llama_bin, "probe", return_value=RECORDED),
        mock.patch.object(process.ServerProcess, "start", side_effect=ServerStartError("fuzz: no servers")),
    ):
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(here)


def check(status: int, err: str, out: str = "") -> None:
    first = next((line for line in err.splitlines() if "error" in line), "")
    hypothesis.event(f"exit {status}: {first.split(':')[-1].strip()[:40] if status else ''}")
    assert status in (0, 1, 2), (status, err)
    assert "Traceback" not in err
    odd = [c for c in out + err if not c.isprintable() and c not in "\n\t"]
    assert not odd, f"raw control characters {odd[:5]!r} printed"  # a label or argument may carry terminal escapes
    if status:
        lines = [
            line
            for line in err.splitlines()
            if line.startswith("error:") or ": error:" in line or (status == 1 and "run(s) failed" in line)
        ]  # a sweep whose runs failed lists them
        assert lines and len(lines[0]) > len("error: "), err


def write(path: str, data) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(data if isinstance(data, str) else json.dumps(data))


# ---- a valid starting point for every generator ------------------------------------------------------------------
@pytest.fixture(scope="module")
def base(family, tmp_path_factory):
    config = json.loads(json.dumps(family["config"]))
    config["hardware"] = "fuzzbox"
    config["settings"].update(llama_bin="/nonexistent/llama-server", requests=2, warmup=0, port=0)
    requests = [
        RequestResult(f"p{i}", "code", decode_tps=10.0 + i, ttft_s=0.1, completion_tokens=24, text="some text") for i in range(2)
    ]
    runs = [
        RunResult("T", None, mean_tps=10.5, n_requests=2, requests=requests),
        RunResult(
            "T",
            "d",
            mean_tps=21.0,
            n_requests=2,
            speedup=2.0,
            speedup_ci95=[1.5, 2.5],
            acceptance_rate=0.5,
            requests=requests,
            categories={"code": CategoryResult(n_requests=2, decode_tps=21.0)},
        ),
    ]
    results = json.loads(json.dumps(dump_results(FileMeta.from_dict({"hardware": "fuzzbox", "name": "t", "settings": {}}), runs)))
    cfg = parse_config(config, "c.json", family["dir"])
    target, first = cfg.targets[0], cfg.setups[0]
    mine = [
        RunResult(target.label, None, mean_tps=10.5, n_requests=2, requests=requests, target_path=target.path),
        RunResult(
            target.label,
            first.label,
            mean_tps=21.0,
            n_requests=2,
            requests=requests,
            speculation=first.speculation,
            target_path=target.path,
        ),
    ]
    resumable = json.loads(
        json.dumps(
            dump_results(FileMeta.from_dict({"hardware": "fuzzbox", "name": cfg.name, "settings": cfg.settings_record()}), mine)
        )
    )
    return {"config": config, "results": results, "resumable": resumable}


def mutate(data, draw_path, value, delete: bool):
    """``data`` with the node at ``draw_path`` (keys/indexes, as far as they exist) replaced or removed."""
    data = json.loads(json.dumps(data))
    node, path = data, list(draw_path)
    while path:
        key = path.pop(0)
        if isinstance(node, dict) and isinstance(key, str) and not path and not delete:
            node[key] = value  # a field set (or added: fields of other versions)
            return data
        if isinstance(node, dict) and node:
            key = sorted(node)[zlib.crc32(str(key).encode()) % len(node)] if key not in node else key
        elif isinstance(node, list) and node:
            key = int(key) % len(node) if isinstance(key, int) else 0
        else:
            break
        if not path or not isinstance(node[key], (dict, list)):
            if delete and isinstance(node, dict):
                del node[key]
            else:
                node[key] = value
            return data
        node = node[key]
    return data


PATHS = st.lists(st.one_of(st.integers(0, 5), TEXT), min_size=1, max_size=4)
RUN_FIELDS = sorted(RunResult.__dataclass_fields__) + ["spec_type", "draft_max", "draft_path"]
DEEP = (
    st.tuples(st.just("results"), st.integers(0, 3), st.sampled_from(RUN_FIELDS)).map(list)
    | st.tuples(
        st.just("results"),
        st.integers(0, 3),
        st.just("requests"),
        st.integers(0, 1),
        st.sampled_from(sorted(RequestResult.__dataclass_fields__)),
    ).map(list)
    | st.tuples(
        st.just("settings"),
        st.sampled_from(["requests", "runs", "max_tokens", "concurrency", "axes", "prompts_hash", "seed", "endpoint"]),
    ).map(list)
)
EDITS = st.lists(st.tuples(PATHS | DEEP, JSON, st.booleans()), min_size=1, max_size=4)


def edited(data, edits):
    for path, value, delete in edits:
        data = mutate(data, path, value, delete)
    return data


def dumps(data) -> str:
    return json.dumps(data, allow_nan=True, ensure_ascii=False)


# ---- the four generators ------------------------------------------------------------------------------------------
@examples(60)
@given(edits=EDITS, raw=st.one_of(st.none(), st.text(max_size=40)), dry=st.booleans())
def test_generated_configs(no_new_servers, base, tmp_path_factory, edits, raw, dry):
    tmp = str(tmp_path_factory.mktemp("cfg"))
    config = os.path.join(tmp, "c.json")
    write(config, raw if raw is not None else dumps(edited(base["config"], edits)))
    results = os.path.join(tmp, "r.json")
    write(results, base["results"])
    before = snapshot(tmp)
    with sandbox(tmp):
        status, out, err = call("sweep.py", "--config", config, "--results", results, *(["--dry-run"] if dry else []))
    check(status, err, out)
    if dry or status == 2:
        assert snapshot(tmp) == before or (not dry and set(snapshot(tmp)) - set(before) <= {"r.json.lock"})


@examples(60)
@given(
    text=st.one_of(st.text(max_size=200), st.lists(st.one_of(JSON.map(dumps), TEXT), max_size=5).map("\n".join)),
    raw=st.one_of(st.none(), st.binary(max_size=40)),
    kind=st.sampled_from(["prompts", "prompts-file", "config"]),
)
def test_generated_prompt_files(no_new_servers, base, tmp_path_factory, text, raw, kind):
    tmp = str(tmp_path_factory.mktemp("prm"))
    prompts = os.path.join(tmp, "p.jsonl")
    with open(prompts, "wb") as fh:
        fh.write(raw if raw is not None else text.encode("utf-8", errors="surrogatepass"))
    with sandbox(tmp):
        if kind == "config":
            config = os.path.join(tmp, "c.json")
            write(config, {**base["config"], "settings": {**base["config"]["settings"], "prompts": prompts}})
            status, out, err = call("sweep.py", "--config", config, "--dry-run")
        else:  # nothing listens on port 9: a prompt file that passes ends at "cannot reach a server"
            status, out, err = call("bench.py", f"--{kind}", prompts, "--url", "http://127.0.0.1:9", "--warmup", "0")
    check(status, err, out)


@examples(80)
@given(edits=EDITS, original=st.booleans(), mode=st.sampled_from(["md", "csv", "chart", "compare", "resume"]))
def test_generated_results_files(no_new_servers, base, tmp_path_factory, edits, original, mode):
    from conftest import ROOT

    tmp = str(tmp_path_factory.mktemp("res"))
    if mode == "resume":
        start = base["resumable"]
    elif original:
        with open(
            os.path.join(ROOT, "tests", "data", "published-results", "m4max-128gb_llamacpp_qwen25-14b.json"), encoding="utf-8"
        ) as fh:
            start = json.load(fh)
        start["results"] = start["results"][:6]
    else:
        start = base["results"]
    results = os.path.join(tmp, "r.json")
    write(results, dumps(edited(start, edits)))
    chart = os.path.join(tmp, "out.html")
    before = open(results, "rb").read()
    with sandbox(tmp):
        if mode == "resume":  # what a sweep finds in its results file when it starts
            config = os.path.join(tmp, "c.json")
            write(config, base["config"])
            status, out, err = call("sweep.py", "--config", config, "--results", results, "--chart", chart)
        elif mode == "compare":
            status, out, err = call("sweep.py", "--compare", results, "--chart", chart)
        else:
            fmt = [] if mode == "chart" else ["--format", mode]
            status, out, err = call("sweep.py", "--results", results, "--chart-only", "--chart", chart, *fmt)
    check(status, err, out)
    if mode == "resume":  # refused: untouched; resumed: the failed starts are recorded as data
        assert status == 1 or open(results, "rb").read() == before, err
        return
    assert open(results, "rb").read() == before  # reading a file never rewrites it
    if status != 1:  # compare exits 1 when it left a file out, with or without a page of the others
        assert os.path.exists(chart) == (status == 0), err


FLAGS = {
    "sweep.py": [
        "--config",
        "--config-dir",
        "--compare",
        "--results",
        "--chart",
        "--chart-only",
        "--fresh",
        "--dry-run",
        "--adaptive",
        "--format",
        "--help",
    ],
    "bench.py": [
        "--url",
        "--requests",
        "--max-tokens",
        "--concurrency",
        "--temperature",
        "--endpoint",
        "--prompt",
        "--prompts-file",
        "--prompts",
        "--categories",
        "--warmup",
        "--seed",
        "--timeout",
        "--json",
        "--expect-draft",
    ],
    "server.py": [
        "llama-cpp",
        "vllm",
        "--model-path",
        "--draft-path",
        "--port",
        "--host",
        "--draft-max",
        "--ready-timeout",
        "--gpu-layers",
        "--ctx-size",
        "--spec-type",
        "--draft-min",
        "--draft-p-min",
        "--",
    ],
}
SPECIAL = [
    "good.json",
    "bad.json",
    "r.json",
    "pipe",
    "folder",
    "link.json",
    "loop.json",
    "/dev/null",
    "missing.json",
    "md",
    "csv",
    "http://127.0.0.1:9",
    "chat",
]


@examples(150)
@given(script=st.sampled_from(sorted(FLAGS)), data=st.data())
def test_generated_argument_lists(no_new_servers, base, tmp_path_factory, script, data):
    tmp = str(tmp_path_factory.mktemp("cli"))
    write(os.path.join(tmp, "good.json"), base["config"])
    write(os.path.join(tmp, "bad.json"), '{"name": 1, "targets": [')
    write(os.path.join(tmp, "r.json"), base["results"])
    os.mkfifo(os.path.join(tmp, "pipe"))
    os.mkdir(os.path.join(tmp, "folder"))
    os.symlink("r.json", os.path.join(tmp, "link.json"))
    os.symlink("loop.json", os.path.join(tmp, "loop.json"))
    token = st.one_of(st.sampled_from(FLAGS[script]), st.sampled_from(SPECIAL), NUMBER.map(str), TEXT)
    argv = data.draw(st.lists(token, max_size=7), label="argv")
    if script == "server.py" and argv and argv[0] not in ("llama-cpp", "vllm"):
        argv = ["llama-cpp", *argv]
    if script == "bench.py" and "--url" not in argv:
        argv += ["--url", "http://127.0.0.1:9"]
    before = snapshot(tmp)
    with sandbox(tmp):
        status, out, err = call(script, *argv)
    check(status, err, out)
    after = snapshot(tmp)
    for name in ("pipe", "link.json", "loop.json"):
        assert after[name] == before[name], name  # never replaced by a regular file
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    measured = script == "sweep.py" and {"--config", "--config-dir"} & set(argv) and "--dry-run" not in argv
    if not measured:
        assert after.get("r.json") == before["r.json"]


# ---- issue 34: outputs among inputs, secrets, managed flags, nested JSON, malformed stream events --------------
INPUTS = ["c.json", "p.jsonl", "r.json", "model.gguf", "link-c.json", "hard-c.json", "out.html", "new.json"]


@examples(60)
@given(
    mode=st.sampled_from(["run", "dry", "chart-only", "compare"]),
    results=st.sampled_from(INPUTS),
    chart=st.one_of(st.none(), st.sampled_from(INPUTS)),
)
def test_generated_output_paths(no_new_servers, base, family, tmp_path_factory, mode, results, chart):
    """Outputs named among the command's own inputs: every input file stays byte-identical (a sweep that measured
    may write only its own results and report, when they are not inputs)."""
    tmp = str(tmp_path_factory.mktemp("out"))
    write(os.path.join(tmp, "p.jsonl"), '{"prompt": "Say hello."}\n{"prompt": "Count to three."}\n')
    config = {**base["config"], "settings": {**base["config"]["settings"], "prompts": "p.jsonl"}}
    write(os.path.join(tmp, "c.json"), config)
    write(os.path.join(tmp, "r.json"), base["results"])
    with open(family["draft-1"], "rb") as src, open(os.path.join(tmp, "model.gguf"), "wb") as dst:
        dst.write(src.read(4096))  # a file that stands for a model: its bytes only need to stay as they are
    os.symlink("c.json", os.path.join(tmp, "link-c.json"))
    os.link(os.path.join(tmp, "c.json"), os.path.join(tmp, "hard-c.json"))
    inputs = {"c.json", "p.jsonl", "model.gguf", "link-c.json", "hard-c.json"} | ({"r.json"} if mode != "run" else set())
    before = snapshot(tmp)
    argv = {
        "run": ["--config", "c.json", "--results", results],
        "dry": ["--config", "c.json", "--results", results, "--dry-run"],
        "chart-only": ["--results", "r.json", "--chart-only"],
        "compare": ["--compare", "r.json"],
    }[mode]
    with sandbox(tmp):
        status, out, err = call("sweep.py", *argv, *(["--chart", chart] if chart else []))
    check(status, err, out)
    after = snapshot(tmp)
    for name in inputs:
        assert after[name] == before[name], (name, argv, chart)


SECRET = "s3cr3t-VALUE-42"


@examples(40)
@given(
    where=st.sampled_from(["settings", "draft", "url-user", "url-query"]),
    flag=st.sampled_from(["--hf-token", "-hft", "--api-key", "--hf-token=", "--api-key-file"]),
)
def test_generated_secrets(no_new_servers, base, tmp_path_factory, where, flag):
    """A secret given in an input (a token flag in extra_args, credentials in a URL) appears in no output, no file
    written and no log."""
    tmp = str(tmp_path_factory.mktemp("sec"))
    args = [flag + SECRET] if flag.endswith("=") else [flag, SECRET]
    config = json.loads(json.dumps(base["config"]))
    if where == "settings":
        config["settings"]["extra_args"] = args
    elif where == "draft":
        config["drafts"][0]["extra_args"] = args
    write(os.path.join(tmp, "c.json"), config)
    with sandbox(tmp):
        if where.startswith("url"):
            url = f"http://user:{SECRET}@127.0.0.1:9" if where == "url-user" else f"http://127.0.0.1:9/?api_key={SECRET}"
            status, out, err = call("bench.py", "--url", url, "--warmup", "0", "--json")
        else:
            status, out, err = call("sweep.py", "--config", "c.json", "--results", "r.json", "--format", "md")
    check(status, err, out)
    assert SECRET not in out + err
    for root, _, names in os.walk(tmp):
        for name in names:
            if name != "c.json":
                assert SECRET not in open(os.path.join(root, name), encoding="utf-8", errors="replace").read(), name


@examples(40)
@given(
    flag=st.sampled_from(
        [
            "-m",
            "--model",
            "-md",
            "--model-draft",
            "--port",
            "--host",
            "--spec-type",
            "-c",
            "--spec-draft-n-max",
            "--draft-max",
            "-np",
            "-ngl",
            "--spec-ngram-mod-n-max",
        ]
    ),
    where=st.sampled_from(["settings", "draft"]),
    joined=st.booleans(),
)
def test_generated_managed_flags(no_new_servers, base, tmp_path_factory, flag, where, joined):
    tmp = str(tmp_path_factory.mktemp("man"))
    args = [f"{flag}=4"] if joined else [flag, "4"]
    config = json.loads(json.dumps(base["config"]))
    (config["settings"] if where == "settings" else config["drafts"][0])["extra_args"] = args
    write(os.path.join(tmp, "c.json"), config)
    with sandbox(tmp):
        status, out, err = call("sweep.py", "--config", "c.json", "--dry-run")
    check(status, err, out)
    assert status == 2 and f"{flag} is set by draftbench" in err


@examples(30)
@given(depth=st.integers(60, 60_000), kind=st.sampled_from(["config", "results", "prompts"]))
def test_generated_nested_json(no_new_servers, base, tmp_path_factory, depth, kind):
    tmp = str(tmp_path_factory.mktemp("deep"))
    deep = "[" * depth + "]" * depth
    write(os.path.join(tmp, "d.json"), deep if kind != "prompts" else '{"prompt": ' + deep + "}\n")
    config = {**base["config"], "settings": {**base["config"]["settings"], "prompts": "d.json"}}
    write(os.path.join(tmp, "c.json"), config)
    argv = {
        "config": ["--config", "d.json", "--dry-run"],
        "results": ["--results", "d.json", "--chart-only"],
        "prompts": ["--config", "c.json", "--dry-run"],
    }[kind]
    with sandbox(tmp):
        status, out, err = call("sweep.py", *argv)
    check(status, err, out)
    assert status == 2


EVENT_FIELDS = st.dictionaries(
    st.sampled_from(
        ["content", "text", "reasoning_content", "delta", "predicted_per_second", "predicted_n", "draft_n", "completion_tokens"]
    ),
    JSON,
    max_size=3,
)


@examples(120)
@given(
    events=st.lists(
        st.one_of(
            st.builds(lambda d: {"choices": [{"delta": d}]}, st.one_of(EVENT_FIELDS, JSON)),
            st.builds(lambda d: {"choices": [d]}, st.one_of(EVENT_FIELDS, JSON)),
            st.builds(lambda t: {"choices": [{"delta": {"content": "x"}}], "timings": t}, st.one_of(EVENT_FIELDS, JSON)),
            st.builds(lambda u: {"choices": [], "usage": u}, st.one_of(EVENT_FIELDS, JSON)),
            JSON,
        ),
        max_size=5,
    )
)
def test_generated_stream_events(events):
    """Whatever the events carry, a request ends as a result (its error set where the stream was malformed), with
    no rate below zero and no exception."""
    from draftbench.measure import stream

    chunks = [b"data: " + dumps(e).encode() + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]
    ticks = iter(range(1000))
    done = stream.consume(iter(chunks), 0.0, lambda: float(next(ticks)), RequestResult("p"), 8)
    assert done.error is not None or done.text
    for value in (done.decode_tps, done.client_decode_tps, done.ttft_s):
        assert value is None or (isinstance(value, (int, float)) and value >= 0), (value, events)


# ---- issue 51's families: what a server or a scheduler claims ----------------------------------------------------
NUMBERS = st.one_of(
    st.sampled_from(["1.2.3", "NaN", "+Inf", "-Inf", "-5", "1e308", "1e999", "0x10", "", "300000000", "-0"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(2**70), 2**70).map(str),
)
METRIC_NAMES = st.sampled_from(
    [
        "vllm:spec_decode_num_drafts_total",
        "vllm:spec_decode_num_draft_tokens_total",
        "vllm:spec_decode_num_accepted_tokens_total",
        "vllm:spec_decode_num_accepted_tokens_per_pos_total",
        "vllm:iteration_tokens_total_count",
        "vllm:request_queue_time_seconds_sum",
        "other_metric",
    ]
)


@examples(150)
@given(
    lines=st.lists(
        st.tuples(METRIC_NAMES, st.one_of(st.none(), NUMBERS.map(lambda n: f'{{position="{n}"}}')), NUMBERS), max_size=8
    ),
    before=st.booleans(),
)
def test_generated_metrics_pages(lines, before):
    """Whatever /metrics says: counters finite and never below zero, positions bounded, a difference never
    negative nor accepting more than it drafted, and no exception."""
    import math

    from draftbench.server.vllm_metrics import MAX_POSITIONS, parse_metrics

    page = "\n".join(f"{name}{label or ''} {value}" for name, label, value in lines)
    found = parse_metrics(page)
    if found is None:
        return
    numbers = [found.drafts, found.draft_tokens, found.accepted_tokens, *found.accepted_per_pos]
    assert all(math.isfinite(v) and v >= 0 for v in numbers) and len(found.accepted_per_pos) <= MAX_POSITIONS
    other = parse_metrics("vllm:spec_decode_num_draft_tokens_total 5\nvllm:spec_decode_num_accepted_tokens_total 3")
    assert other is not None
    diff = found.minus(other) if before else other.minus(found)
    assert diff is None or (diff.accepted_tokens <= diff.draft_tokens and diff.draft_tokens >= 0)


@examples(150)
@given(answer=JSON)
def test_generated_distribution_answers(answer):
    """A /completion answer is read as tokens or text, or refused as the server's fault: never another exception."""
    from draftbench.errors import DraftbenchError
    from draftbench.measure.distribution import _continuation

    try:
        assert isinstance(_continuation(answer, "http://u:secret@h:1"), str)
    except DraftbenchError as exc:
        assert "secret" not in str(exc)


@examples(150)
@given(
    env=st.dictionaries(
        st.sampled_from(
            ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX",
             "SLURM_ARRAY_TASK_STEP", "JOB_COMPLETION_INDEX"]
        ),
        NUMBERS,
        max_size=5,
    ),
    flag=st.one_of(st.none(), st.integers(-5, 10**12)),
    shard=st.one_of(st.none(), NUMBERS.map(lambda n: f"1/{n}"), NUMBERS.map(lambda n: f"{n}/4")),
)  # fmt: skip
def test_generated_shard_claims(env, flag, shard):
    """A scheduler's environment or a --shard flag: a shard within the bounds, or a ShardError, at once."""
    import time

    from draftbench.errors import ShardError
    from draftbench.sweep import shards

    t0 = time.monotonic()
    for attempt in (lambda: shards.from_environment(env, flag, 1), lambda: shards.parse(shard) if shard else None):
        try:
            found = attempt()
        except ShardError as exc:
            assert len(str(exc)) < 1_000
            continue
        assert found is None or (0 <= found.index < found.count <= 100_000)
    assert time.monotonic() - t0 < 2


@examples(150)
@given(
    counts=st.lists(st.sampled_from([0, 1, 3, 2**31, 2**32 - 1, 2**60, 2**64 - 1]), min_size=3, max_size=3),
    itype=st.sampled_from([0, 4, 6, 8, 9, 12, 99]),
    pad=st.sampled_from([0, 16, 4096]),
    keep=st.booleans(),
)
def test_generated_gguf_headers(tmp_path_factory, counts, itype, pad, keep):
    """A GGUF header claiming any counts: read at once, or refused as a ModelFileError naming the file."""
    import struct
    import time

    from draftbench.core import gguf_header
    from draftbench.errors import ModelFileError

    kv_count, array_count, string_len = counts
    key = b"x.array"
    body = struct.pack("<Q", len(key)) + key + struct.pack("<IIQ", 9, itype, array_count) + struct.pack("<Q", string_len)
    path = tmp_path_factory.mktemp("gguf") / "h.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, kv_count) + body + b"\0" * pad)
    t0 = time.monotonic()
    try:
        gguf_header.read_metadata(str(path), keep_arrays=("x.array",) if keep else ())
    except ModelFileError as exc:
        assert str(path) in str(exc)
    assert time.monotonic() - t0 < 2


@examples(150)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, 2),
            st.sampled_from(["index", "count", "config_hash", "plan_hash", "plan_cells", "cells", "target_id", "target", "host"]),
            st.one_of(JSON, st.integers(-3, 10**6), st.lists(st.integers(-2, 10), max_size=5)),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_generated_shard_edits(tmp_path_factory, edits):
    """Three shards of one sweep, edited: merged into one file, or refused with a ShardError that names what is
    wrong in under 2,000 characters; never another exception."""
    from draftbench.errors import DraftbenchError, ShardError
    from draftbench.results import fleet
    from draftbench.results.jsonfile import dump_results as dump
    from draftbench.results.schema import FileMeta as Meta
    from draftbench.results.schema import ShardInfo

    files = []
    for i in range(3):
        runs = [
            RunResult("T", None, mean_tps=10.0, n_requests=2, target_id="1:aa"),
            RunResult("T", f"d{i}", mean_tps=12.0, n_requests=2, target_id="1:aa"),
        ]
        meta = Meta(
            name="x", machine={"hostname": f"node{i}"}, shard=ShardInfo(i, 3, "c" * 16, "p" * 16, 6, [2 * i + 1, 2 * i + 2])
        )
        files.append(json.loads(json.dumps(dump(meta, runs))))
    for i, field, value in edits:
        data = files[i]
        if field in ("target_id", "target"):
            data["results"][0][field] = value
        elif field == "host":
            data["machine"] = {"hostname": value}
        else:
            data["shard"][field] = value
    from draftbench.results.jsonfile import load_results

    tmp = tmp_path_factory.mktemp("shards")
    loaded = []
    for i, d in enumerate(files):
        path = str(tmp / f"s{i}_shard-{i}-of-3.json")
        write(path, dumps(d))
        try:
            loaded.append((path, *load_results(path)))
        except DraftbenchError:
            return  # the loader refuses a mistyped file before any merge, naming it
    try:
        fleet.merge(loaded, [])
    except ShardError as exc:
        assert len(str(exc)) < 2_000
