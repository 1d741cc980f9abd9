"""A sweep on a real Slurm cluster: Debian's slurmctld, two slurmd (virtual nodes n1 and n2 on loopback) and munge,
started here as root without systemd. The example sbatch array runs a tiny sweep of the test family in three
shards, a dependent job merges them, and every daemon is stopped by pid at the end: nothing is left running."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
from conftest import ROOT, llama_pids, unavailable

from draftbench.results import evaluate
from draftbench.results.jsonfile import load_results
from draftbench.setup.config import parse_config
from draftbench.sweep.plan import build_plan

pytestmark = pytest.mark.slurm
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "scancel")


def _find(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


CONF = """ClusterName=draftbench
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={dir}/munge/munge.sock
SlurmUser=root
SlurmdUser=root
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SlurmdParameters=config_overrides
MinJobAge=600
SlurmctldPidFile={dir}/slurmctld.pid
SlurmctldLogFile={dir}/slurmctld.log
StateSaveLocation={dir}/state
SlurmdPidFile={dir}/slurmd-%n.pid
SlurmdLogFile={dir}/slurmd-%n.log
SlurmdSpoolDir={dir}/slurmd-%n
NodeName=n1 NodeHostname={host} NodeAddr=127.0.0.1 Port={n1} CPUs={cpus} State=UNKNOWN
NodeName=n2 NodeHostname={host} NodeAddr=127.0.0.1 Port={n2} CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP
"""


class Cluster:
    """Two virtual nodes and their controller, on loopback, in a folder of their own."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="draftbench-slurm-")  # not under pytest's 0700 folder: munged
        os.chmod(self.dir, 0o755)  # wants every folder above its socket open to all
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.env = {**os.environ, "SLURM_CONF": self.conf}
        self.pid_files = [
            os.path.join(self.dir, n) for n in ("slurmd-n1.pid", "slurmd-n2.pid", "slurmctld.pid", "munge/munged.pid")
        ]

    def start(self) -> None:
        munge = os.path.join(self.dir, "munge")
        os.makedirs(munge, mode=0o755)
        os.makedirs(os.path.join(self.dir, "state"))
        key = os.path.join(munge, "munge.key")
        with open(key, "wb") as fh:
            fh.write(os.urandom(1024))
        shutil.chown(munge, "munge", "munge")
        shutil.chown(key, "munge", "munge")
        os.chmod(key, 0o400)
        ctld, n1, n2 = _free_ports(3)
        with open(self.conf, "w", encoding="utf-8") as fh:
            fh.write(CONF.format(host=socket.gethostname(), ctld=ctld, n1=n1, n2=n2, dir=self.dir, cpus=os.cpu_count() or 1))
        self._run(
            [
                "runuser",
                "-u",
                "munge",
                "--",
                _find("munged"),
                f"--socket={munge}/munge.sock",
                f"--key-file={key}",
                f"--pid-file={munge}/munged.pid",
                f"--log-file={munge}/munged.log",
                f"--seed-file={munge}/munged.seed",
            ]
        )
        self._run([_find("slurmctld"), "-f", self.conf])
        for node in ("n1", "n2"):
            self._run([_find("slurmd"), "-f", self.conf, "-N", node])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = self._run(["sinfo", "-h", "-N", "-o", "%N %T"], check=False).stdout.split("\n")
            if sum("idle" in s for s in states) == 2:
                return
            time.sleep(0.5)
        raise AssertionError(f"the nodes never became idle: {states}\n{self.logs()}")

    def _run(self, args: list, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([str(a) for a in args], env=self.env, capture_output=True, text=True, timeout=60)
        if check and done.returncode:
            raise AssertionError(f"{args[0]} failed: {done.stderr}\n{self.logs()}")
        return done

    def logs(self) -> str:
        out = []
        for name in ("slurmctld.log", "slurmd-n1.log", "slurmd-n2.log"):
            path = os.path.join(self.dir, name)
            if os.path.exists(path):
                out.append(f"--- {name}\n" + open(path, encoding="utf-8", errors="replace").read()[-3000:])
        return "\n".join(out)

    def wait_gone(self, job: str, timeout: float) -> str:
        """Wait until ``job`` (and an array's tasks) leave the queue; its final state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._run(["squeue", "-h", "-j", job], check=False).stdout.strip():
                break
            time.sleep(1)
        else:
            raise AssertionError(f"job {job} still queued after {timeout:.0f} s\n{self.logs()}")
        return self._run(["scontrol", "show", "job", job], check=False).stdout

    def stop(self) -> list[str]:
        """Cancel every job, stop every daemon by its pid; the command lines of anything still running."""
        self._run(["scancel", "--full", "-u", "root"], check=False)
        for path in self.pid_files:
            try:
                os.kill(int(open(path).read().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.left():
            time.sleep(0.3)
        left = self.left()
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
        return [cmd for _, cmd in left]

    def left(self) -> list[tuple[int, str]]:
        """Processes of this cluster: daemons and job steps reading its folder."""
        out = subprocess.run(["pgrep", "-af", "slurm|munged"], capture_output=True, text=True).stdout
        mine = []
        for line in out.splitlines():
            pid, _, cmd = line.partition(" ")
            if self.dir in cmd or "slurmstepd" in cmd.split(" ")[0]:
                mine.append((int(pid), cmd))
        return mine


@pytest.fixture
def slurm_cluster():
    missing = [n for n in (*DAEMONS, *CLIENTS, "runuser") if _find(n) is None]
    if missing:
        unavailable(
            f"needs Debian's slurmctld, slurmd, slurm-client and munge: {', '.join(missing)} not found",
            f"CI needs Slurm and munge (.ci/run installs them): {', '.join(missing)} not found",
        )
    if os.geteuid() != 0:
        pytest.skip("the test cluster runs its daemons as root")
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        left = cluster.stop()
    assert not left, f"Slurm processes left running: {left}"


def test_a_sweep_split_by_a_slurm_job_array_and_merged_by_a_dependent_job(slurm_cluster, family, broken_gguf, tmp_path):
    """With one setup that fails to start (a cut GGUF): its shard exits 0, the merge job runs and names it."""
    before = llama_pids()
    config = {
        "name": "fleet",
        "hardware": "slurmbox",
        "backend": "llamacpp",
        "targets": [{"label": "T", "path": family["target"]}, {"label": "M", "path": family["target-mtp"]}],
        "drafts": [
            {"label": "d1", "path": family["draft-1"]},
            {"label": "d4", "path": family["draft-4"]},
            {"label": "broken", "path": broken_gguf},
        ],
        "settings": {
            "requests": 3,
            "warmup": 0,
            "max_tokens": 12,
            "gpu_layers": 0,
            "ctx_size": 512,
            "port": 0,
            "baseline_every": 0,
            "cost_model": False,
        },
    }
    (tmp_path / "sweep.json").write_text(json.dumps(config))
    env = {
        **slurm_cluster.env,
        "DRAFTBENCH_PYTHON": os.environ.get("DRAFTBENCH_PYTHON", __import__("sys").executable),
        "PYTHONPATH": ROOT,
    }
    done = subprocess.run(
        ["bash", os.path.join(ROOT, "examples", "slurm", "submit.sh"), str(tmp_path / "sweep.json"), str(tmp_path / "run"), "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    array, merge = done.stdout.split("array job ")[1].split()[0], done.stdout.split("merge job ")[1].split(";")[0]
    state = slurm_cluster.wait_gone(merge, timeout=600)
    outputs = "\n".join(open(p, errors="replace").read() for p in sorted((tmp_path / "run").glob("draftbench-*.out")))
    assert "JobState=COMPLETED" in state, f"{state}\n{outputs}\n{slurm_cluster.logs()}"

    results = tmp_path / "run" / "results"
    shards = sorted(results.glob("slurmbox_llamacpp_fleet_shard-*-of-3.json"))
    assert len(shards) == 3, outputs
    metas = [load_results(str(p))[0] for p in shards]
    assert sorted(m.shard.index for m in metas) == [0, 1, 2]
    assert all(m.shard.source.startswith("SLURM_ARRAY_TASK_ID=") and m.shard.job.startswith(f"{array}_") for m in metas)
    meta, ev = evaluate.load(str(results / "slurmbox_llamacpp_fleet.json"))
    assert [s.index for s in meta.shards] == [0, 1, 2]
    plan = build_plan(parse_config(config, str(tmp_path / "sweep.json")))
    measured = [(r.target, r.draft, r.level) for r in ev.runs if r.draft is not None]
    assert sorted(measured, key=repr) == sorted(
        ((c.target.label, c.setup.label, c.level) for c in plan if not c.setup.is_baseline), key=repr
    )  # each cell exactly once
    failed = [r for r in ev.runs if r.draft == "broken"]
    assert len(failed) == 2 and all(r.error for r in failed)  # one per target, recorded by its shard
    for r in ev.runs:
        if r.draft is not None and r.draft != "broken":
            assert r.done and r.speedup is not None
            own = [b for b in ev.runs if b.draft is None and b.target == r.target and b.shard == r.shard]
            assert len(own) == 1  # a baseline of its own shard
            alone = evaluate.evaluate(
                [own[0], next(x for x in load_results(str(shards[r.shard]))[1] if x.key[:3] == r.key[:3] and x.shard == r.shard)]
            )
            assert r.speedup == pytest.approx(alone.runs[1].speedup)
    html = (results / "slurmbox_llamacpp_fleet.html").read_text()
    assert "Plotly.newPlot" in html and 'id="shards"' in html and "broken" in html
    assert llama_pids() - before == set()  # every shard stopped its servers
