"""A sweep split into shards (sweep/shards.py) and merged (results/fleet.py): the shard a scheduler's environment
names, a split that covers the plan exactly once, a merge that refuses what is not one sweep and writes nothing
then, a shard killed and resumed, and the examples (sbatch scripts, the Kubernetes manifests) checked offline."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import signal
import subprocess

import pytest
from conftest import ROOT, run_script
from sweep_helpers import sweep_until

from draftbench.errors import ConfigError, ShardError
from draftbench.results import evaluate
from draftbench.results.jsonfile import load_results
from draftbench.setup.config import parse_config
from draftbench.sweep import shards
from draftbench.sweep.plan import build_plan

EXAMPLES = os.path.join(ROOT, "examples")


def _config(family: dict, name: str = "fleet", **settings) -> dict:
    return {
        "name": name,
        "hardware": "fleetbox",
        "backend": "llamacpp",
        "targets": [{"label": "T", "path": family["target"]}, {"label": "M", "path": family["target-mtp"]}],
        "drafts": [{"label": "d1", "path": family["draft-1"]}, {"label": "d4", "path": family["draft-4"]}],
        "settings": {
            "requests": 3,
            "warmup": 0,
            "max_tokens": 12,
            "gpu_layers": 0,
            "ctx_size": 512,
            "port": 0,
            "baseline_every": 0,
            "cost_model": False,
            **settings,
        },
    }


def _write(tmp_path, data: dict, name: str = "c.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize(
    "env, index, count",
    [
        ({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3"}, 2, 3),
        ({"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_MAX": "7"}, 1, 4),
        (
            {"SLURM_ARRAY_TASK_ID": "8", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "12", "SLURM_ARRAY_TASK_STEP": "4"},
            2,
            4,
        ),
    ],
)
def test_a_slurm_array_task_names_its_shard(env, index, count):
    shard = shards.from_environment(env, None, 1)
    assert (shard.index, shard.count) == (index, count) and shard.source.startswith("SLURM_ARRAY_TASK_ID=")


def test_a_kubernetes_indexed_job_pod_names_its_shard_with_the_count_from_the_flag_or_the_config():
    env = {"JOB_COMPLETION_INDEX": "3", "HOSTNAME": "draftbench-sweep-3-abcde"}
    assert (shards.from_environment(env, 4, 1).index, shards.from_environment(env, 4, 1).count) == (3, 4)
    assert shards.from_environment(env, None, 5).count == 5  # settings.shards
    assert shards.from_environment(env, None, 5).job == "draftbench-sweep-3-abcde"
    with pytest.raises(ShardError, match="--shard-count"):
        shards.from_environment(env, None, 1)
    with pytest.raises(ShardError, match="not one of 0..2"):
        shards.from_environment(env, 3, 1)
    assert shards.from_environment({}, None, 4) is None  # no scheduler: the whole plan
    with pytest.raises(ShardError, match="JOB_COMPLETION_INDEX"):
        shards.from_environment({}, 4, 1)


@pytest.mark.parametrize("text", ["3/3", "1", "a/b", "-1/2", "0/0"])
def test_a_wrong_shard_flag_is_refused_naming_the_rule(text):
    with pytest.raises(ShardError, match="--shard"):
        shards.parse(text)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 9])
def test_the_parts_cover_every_setup_once_each_with_its_targets_baselines(family, tmp_path, count):
    data = _config(family, concurrency=[1, 2])
    data["axes"] = {"draft_max": [2, 3]}
    cfg = parse_config(data, _write(tmp_path, data))
    plan = build_plan(cfg)
    parts = shards.split(plan, count, shards.weight(cfg, os.path.getsize))
    assert parts == shards.split(plan, count, shards.weight(cfg, os.path.getsize))  # the same on every node
    setups = [c.key for p in parts for c in p if not c.setup.is_baseline]
    assert sorted(setups, key=repr) == sorted((c.key for c in plan if not c.setup.is_baseline), key=repr)
    assert len(set(setups)) == len(setups)
    for p in parts:
        for c in p:  # a setup's levels stay together, with its target's baseline at every level
            assert {(b.target.label, b.level) for b in p if b.setup.is_baseline} >= {(c.target.label, c.level)}
            assert all(o in p for o in plan if (o.target.label, o.setup.label) == (c.target.label, c.setup.label))
    costs = [sum(shards.weight(cfg, os.path.getsize)(c) for c in p) for p in parts]
    if count <= 4:  # 8 setups of two targets: the parts within a setup's cost of each other
        unit = max(shards.weight(cfg, os.path.getsize)(c) for c in plan) * 2 * 2
        assert max(costs) - min(costs) <= unit


def test_a_search_that_races_setups_is_not_split(family, tmp_path):
    data = _config(family, search="adaptive", requests=9)
    cfg = parse_config(data, _write(tmp_path, data))
    with pytest.raises(ConfigError, match="exhaustive"):
        shards.part(cfg, build_plan(cfg), shards.parse("0/2"), os.path.getsize)


@pytest.fixture(scope="module")
def shard_files(family, tmp_path_factory):
    """Three shards of a sweep of two targets x two drafts, measured one after the other here."""
    folder = tmp_path_factory.mktemp("shards")
    config = _write(folder, _config(family))
    for i in range(3):
        done = run_script("sweep.py", "--config", config, "--shard", f"{i}/3", cwd=str(folder))
        assert done.returncode == 0, done.stderr
        assert f"Shard {i} of 3 (from --shard)" in done.stderr
    return folder, config, sorted(glob.glob(str(folder / "results" / "*_shard-*-of-3.json")))


def test_shards_merge_into_one_file_whose_speedups_are_each_against_its_own_shards_baseline(shard_files, family):
    folder, config, paths = shard_files
    assert [os.path.basename(p) for p in paths] == [f"fleetbox_llamacpp_fleet_shard-{i}-of-3.json" for i in range(3)]
    done = run_script("sweep.py", "--merge", str(folder / "results"), "--format", "csv", cwd=str(folder))
    assert done.returncode == 0, done.stderr
    merged = folder / "results" / "fleetbox_llamacpp_fleet.json"
    meta, ev = evaluate.load(str(merged))
    assert [s.index for s in meta.shards] == [0, 1, 2] and all(s.host for s in meta.shards)
    plan = build_plan(parse_config(json.load(open(config)), config))
    setups = [(r.target, r.draft, r.level) for r in ev.runs if r.draft is not None]
    assert sorted(setups, key=repr) == sorted(
        ((c.target.label, c.setup.label, c.level) for c in plan if not c.setup.is_baseline), key=repr
    )  # each exactly once
    for r in ev.runs:
        if r.draft is None:
            continue
        base = next(b for b in ev.runs if b.draft is None and b.target == r.target and b.shard == r.shard)
        alone = evaluate.evaluate(
            [base, *[x for x in load_results(paths[r.shard])[1] if x.draft == r.draft and x.target == r.target]]
        )
        assert r.speedup == pytest.approx(alone.runs[1].speedup)  # its own node's baseline, not another's
    html = (folder / "results" / "fleetbox_llamacpp_fleet.html").read_text()
    assert 'id="shards"' in html and "Plotly.newPlot" in html
    assert done.stdout.splitlines()[0].startswith("target,")  # the export on stdout, progress on stderr
    bases = [r for r in ev.runs if r.draft is None]
    assert len({(b.target, b.shard) for b in bases}) > len({b.target for b in bases})  # a target on two nodes:
    assert any(n.ratio is not None for n in ev.nodes)  # its baselines compared, paired on the same prompts
    assert "Nodes: " in done.stderr or "slower node" in done.stderr
    assert 'id="node-baselines"' in html


def _copy(src: str, dst) -> str:
    dst.write_bytes(open(src, "rb").read())
    return str(dst)


def _refused(args: list[str], cwd, why: str) -> None:
    out = cwd / "out.json"
    done = run_script("sweep.py", "--merge", *args, "--results", str(out), cwd=str(cwd))
    assert done.returncode == 2, done.stderr
    assert why in done.stderr and "Traceback" not in done.stderr
    assert not out.exists() and not (cwd / "out.html").exists()  # nothing written


def test_a_merge_that_is_not_one_sweep_exits_2_naming_the_problem_and_writes_nothing(shard_files, family, tmp_path):
    folder, config, paths = shard_files
    _refused(paths[:2], tmp_path, "shard 2 of 3 missing")
    _refused([*paths, _copy(paths[1], tmp_path / "again_shard-1-of-3.json")], tmp_path, "shard 1 of 3 is given 2 times")
    other = json.loads(open(paths[2]).read())
    other["shard"]["config_hash"] = "0" * 16
    (tmp_path / "x_shard-2-of-3.json").write_text(json.dumps(other))
    _refused([*paths[:2], str(tmp_path / "x_shard-2-of-3.json")], tmp_path, "from another config")
    other = json.loads(open(paths[2]).read())
    other["hardware"] = "another-box"
    (tmp_path / "y_shard-2-of-3.json").write_text(json.dumps(other))
    _refused([*paths[:2], str(tmp_path / "y_shard-2-of-3.json")], tmp_path, "--compare")
    digests = [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths]
    _refused([*paths[:2], config], tmp_path, "")  # a config is no results file: named, nothing written
    assert digests == [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths]


def test_a_shard_killed_mid_run_resumes_without_measuring_its_finished_cells_again(family, tmp_path, no_new_servers):
    config = _write(tmp_path, _config(family, requests=6))
    args = ["--config", config, "--shard", "0/2", "--results", str(tmp_path / "r_shard-0-of-2.json")]
    code, text = sweep_until(args, "Progress: 1/", sig=signal.SIGKILL)
    assert code == -signal.SIGKILL
    first = {r.key: r for r in load_results(str(tmp_path / "r_shard-0-of-2.json"))[1]}
    assert first and all(r.done for r in first.values())
    done = run_script("sweep.py", *args)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("done earlier, skipped") == len(first)
    again = {r.key: r for r in load_results(str(tmp_path / "r_shard-0-of-2.json"))[1]}
    for key, run in first.items():
        assert again[key].requests == run.requests  # not measured again
    cfg = parse_config(json.load(open(config)), config)
    mine = shards.split(build_plan(cfg), 2, shards.weight(cfg, os.path.getsize))[0]
    assert load_results(str(tmp_path / "r_shard-0-of-2.json"))[0].shard.cells == [c.index for c in mine]


def test_a_shard_does_not_continue_another_shards_file(shard_files):
    folder, config, paths = shard_files
    digest = hashlib.sha256(open(paths[1], "rb").read()).hexdigest()
    done = run_script("sweep.py", "--config", config, "--shard", "0/3", "--results", paths[1], cwd=str(folder))
    assert done.returncode != 0 and "shard 1 of 3" in done.stderr and "Traceback" not in done.stderr
    assert hashlib.sha256(open(paths[1], "rb").read()).hexdigest() == digest


def test_the_dry_run_of_a_shard_prints_its_part_and_cost(family, tmp_path):
    config = _write(tmp_path, _config(family))
    done = run_script(
        "sweep.py",
        "--config",
        config,
        "--dry-run",
        "--shard",
        "1/3",
        cwd=str(tmp_path),
        env={"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "3"},
    )  # the flag wins
    assert done.returncode == 0, done.stderr
    assert "Shard 1 of 3:" in done.stdout and "Baselines: each shard measures" in done.stdout
    assert "Estimated time" in done.stdout and not os.path.exists(tmp_path / "results")
    pod = run_script(
        "sweep.py",
        "--config",
        config,
        "--dry-run",
        cwd=str(tmp_path),
        env={"JOB_COMPLETION_INDEX": "2", "SLURM_ARRAY_TASK_ID": ""},
    )
    assert pod.returncode == 2 and "--shard-count" in pod.stderr  # without a count: refused, not guessed
    pod = run_script(
        "sweep.py",
        "--config",
        config,
        "--dry-run",
        "--shard-count",
        "3",
        cwd=str(tmp_path),
        env={"JOB_COMPLETION_INDEX": "2", "SLURM_ARRAY_TASK_ID": ""},
    )
    assert pod.returncode == 0 and "Shard 2 of 3:" in pod.stdout, pod.stderr


def test_the_example_sbatch_scripts_parse():
    for path in glob.glob(os.path.join(EXAMPLES, "slurm", "*")):
        assert subprocess.run(["bash", "-n", path], capture_output=True).returncode == 0, path
    text = open(os.path.join(EXAMPLES, "slurm", "sweep-array.sbatch")).read()
    assert "--array=0-3" in text and "--exclusive" in text and "--nodes=1" in text
    assert "--dependency=afterok" in open(os.path.join(EXAMPLES, "slurm", "submit.sh")).read()


def test_the_kubernetes_manifests_pass_the_schema_offline():
    yaml = pytest.importorskip("yaml")
    validate = pytest.importorskip("kubernetes_validate")
    kinds = []
    for path in glob.glob(os.path.join(EXAMPLES, "kubernetes", "*.yaml")):
        with open(path, encoding="utf-8") as fh:
            for doc in yaml.safe_load_all(fh):
                validate.validate(doc, validate.latest_version(), strict=True)  # raises on a wrong field
                kinds.append(doc["kind"])
                if doc["kind"] == "Job" and doc["metadata"]["name"] == "draftbench-sweep":
                    spec = doc["spec"]
                    assert spec["completionMode"] == "Indexed"
                    command = spec["template"]["spec"]["containers"][0]["command"]
                    assert command[command.index("--shard-count") + 1] == str(spec["completions"])
    assert kinds.count("Job") == 2


def test_a_new_shards_time_is_estimated_from_the_sweeps_other_files(shard_files):
    folder, config, paths = shard_files
    done = run_script("sweep.py", "--config", config, "--dry-run", "--shard", "0/5", cwd=str(folder))
    line = next(x for x in done.stdout.splitlines() if x.startswith("Estimated time"))
    assert line.startswith("Estimated time: about") and "fleetbox_llamacpp_fleet" in line, done.stdout


def test_a_merge_refuses_shards_whose_models_differ_or_whose_runs_do_not_match_their_cells(shard_files, tmp_path):
    """Issue 51: one "target" measured on two models (another file copied over it on one node), a run renamed."""
    folder, config, paths = shard_files
    other = json.loads(open(paths[1]).read())  # shards 0 and 1 both measure target M
    other["machine"] = {**(other.get("machine") or {}), "hostname": "node-b"}
    for r in other["results"]:
        r["target_id"] = "999:0123456789abcdef"
    odd = str(tmp_path / "z_shard-1-of-3.json")
    (tmp_path / "z_shard-1-of-3.json").write_text(json.dumps(other))
    _refused([paths[0], odd, paths[2]], tmp_path, "is a different model file on different nodes")
    done = run_script("sweep.py", "--merge", paths[0], odd, paths[2], "--results", str(tmp_path / "o.json"))
    assert "z_shard-1-of-3.json (node node-b)" in done.stderr and "999:0123456789abcdef" in done.stderr
    renamed = json.loads(open(paths[1]).read())
    setup = next(r for r in renamed["results"] if r["draft"])
    setup["target"] = "renamed target"
    (tmp_path / "w_shard-1-of-3.json").write_text(json.dumps(renamed))
    _refused([paths[0], str(tmp_path / "w_shard-1-of-3.json"), paths[2]], tmp_path, "its runs do not match its cells")


def test_a_shard_with_a_failed_setup_exits_0_and_the_merge_names_the_failure(family, broken_gguf, tmp_path):
    """Issue 51: so that a scheduler's merge (Slurm's afterok) still runs; the failure is data in the shard's file."""
    config = _config(family, name="failing")
    config["targets"], config["drafts"] = config["targets"][:1], [config["drafts"][0], {"label": "broken", "path": broken_gguf}]
    path = _write(tmp_path, config)
    done = run_script("sweep.py", "--config", path, "--shard", "0/1", cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "of this shard's runs failed: recorded in" in done.stderr
    merged = run_script("sweep.py", "--merge", str(tmp_path / "results"), cwd=str(tmp_path))
    assert merged.returncode == 0, merged.stderr[-2000:]
    html = next((tmp_path / "results").glob("*_failing.html")).read_text()
    assert "broken" in html
    alone = run_script("sweep.py", "--config", path, "--results", str(tmp_path / "whole.json"), cwd=str(tmp_path))
    assert alone.returncode == 1  # a whole sweep with a failed run still says so by its exit status


def test_a_merge_never_replaces_another_sweeps_merged_file(shard_files, tmp_path):
    folder, config, paths = shard_files
    first = tmp_path / "merged.json"
    assert run_script("sweep.py", "--merge", *paths, "--results", str(first)).returncode == 0
    other = json.loads(first.read_text())
    for s in other["shards"]:
        s["config_hash"] = "f" * 16  # another sweep's merge at that path
    first.write_text(json.dumps(other))
    before = first.read_bytes()
    done = run_script("sweep.py", "--merge", *paths, "--results", str(first))
    assert done.returncode == 2 and "the merge of another sweep" in done.stderr and first.read_bytes() == before


def test_compare_of_a_fleet_folder_counts_each_target_once(shard_files, tmp_path):
    """Issue 51: a folder with the shards and their merged file; the shards are in the merge, not counted again."""
    from draftbench.results import compare

    folder, config, paths = shard_files
    for p in paths:
        _copy(p, tmp_path / os.path.basename(p))
    assert run_script("sweep.py", "--merge", str(tmp_path), "--results", str(tmp_path / "merged.json")).returncode == 0
    good, bad = compare.load([str(tmp_path)])
    assert [os.path.basename(p) for p, _, _ in good] == ["merged.json"] and not bad
    assert sorted(e.target for e in compare.entries(good)) == ["M", "T"]
