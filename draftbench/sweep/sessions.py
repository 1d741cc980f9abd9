"""Which server measures a cell: a new one, or the one kept from the previous cell. The plan decides what
may share a session: the levels of one setup (exhaustive sweeps), or, where the build honours per-request
draft settings, the setups of one draft that differ only in length or p-min (measured once per sweep)."""

from __future__ import annotations

import time
from typing import Callable

from ..core.redaction import redact
from ..errors import ServerStartError
from ..measure.per_request import probe_per_request
from ..records.per_request import PerRequestProbe
from ..server import crash, llama_bin, process
from ..setup.config import SweepConfig
from .console import Accounting
from .facts import RunFacts
from .plan import Cell, level_session, server_slots, session_key, shareable

ONE_SERVER_PER_SETUP = "one server per setup"
ONE_SERVER_PER_DRAFT = "one server per draft and target, setups sent per request"


class Sessions:
    def __init__(
        self,
        cfg: SweepConfig,
        plan: list[Cell],
        launch: Callable[[process.ServerSpec], process.ServerProcess],
        echo: Callable[..., None],
        api_key: str | None,
        acct: Accounting,
        note: Callable[[str, object], None],
        keep_levels: bool = True,
    ):
        self.cfg, self.plan, self.launch, self.echo, self.api_key, self.acct = cfg, plan, launch, echo, api_key, acct
        self.note = note  # records what was learnt about the server in the results file's metadata
        self.slots = server_slots(cfg)
        multi_level = len(cfg.settings.levels()) > 1  # then a session holds one setup's levels instead
        self.shareable = shareable(plan) if cfg.backend.per_request_speculation and not multi_level else set()
        self.keep_levels = keep_levels
        self.probe: PerRequestProbe | None = None
        self.held: tuple[str, tuple, process.ServerProcess] | None = None  # ("levels"|"setups", key, server)
        self.fixes: tuple[str, ...] = ()  # flags a crash at start-up taught: every later server starts with them

    def release(self) -> None:
        if self.held is not None:
            self.held[2].stop()
            self.held = None

    def holds(self, server: process.ServerProcess) -> bool:
        return self.held is not None and self.held[2] is server

    def shares_setups(self, server: process.ServerProcess) -> bool:
        """Is ``server`` kept for several setups (so each request must carry its setup's settings)?"""
        return self.held is not None and self.held[2] is server and self.held[0] == "setups"

    def server_for(self, cell: Cell, facts: RunFacts, log_path: str) -> process.ServerProcess:
        """A started server for ``cell``, kept or new. Notes the server's facts for the run's record in ``facts``
        as they are learnt (a failed start keeps those learnt before it)."""
        key = session_key(cell)
        held = self.held if self.held is not None and self.held[2].alive() else None
        if held is not None and held[:2] == ("levels", level_session(cell)):
            server = held[2]
            self.echo(f"  Same server, now at {cell.level.text(cell.shown)}")
            facts.speculation_flags = redact(server.speculation_args)
            if not self._next_is_another_level(cell):
                self.held = None  # the last level: stopped after this cell
        elif held is not None and held[:2] == ("setups", key):
            server = held[2]
            self.echo("  Same server as the previous setup (per-request draft settings)")
            flags, _ = llama_bin.probe(llama_bin.find_llama_server(self.cfg.settings.server.llama_bin))
            facts.speculation_flags = redact(flags.speculation_args(cell.setup.speculation))
        else:
            server = self._start(cell, facts, log_path)
            if key in self.shareable:
                self._keep_if_shareable(key, server)
            elif self._next_is_another_level(cell):
                self.held = ("levels", level_session(cell), server)
        facts.server_fixes = list(server.fixes) or None
        facts.server_command, facts.server_version = redact(server.command), server.version
        facts.log_path = server.log_path
        self.note("server_version", server.version)
        return server

    def _start(self, cell: Cell, facts: RunFacts, log_path: str) -> process.ServerProcess:
        self.release()
        spec = process.ServerSpec(cell.target.path, cell.setup.speculation, self.cfg.settings.server, log_path, self.slots)
        server = self.launch(spec)
        for flag in self.fixes:  # learnt from an earlier crash: this server starts with them, in its own log
            server = server.with_fix(flag, server.log_path)
        facts.warnings = [*facts.warnings, *server.warnings]
        facts.speculation_flags = redact(server.speculation_args)
        self.echo(f"  Starting server{' with ' + ' '.join(self.fixes) if self.fixes else ''} ... ", end="")
        try:
            server = self._start_or_fix(server, facts)
        except BaseException:
            self.echo("failed")
            raise
        facts.load_time_s = server.load_time_s
        self.acct.load_s += server.load_time_s or 0.0
        self.echo(f"ready ({server.load_time_s:.1f} s)")
        return server

    def _start_or_fix(self, server: process.ServerProcess, facts: RunFacts) -> process.ServerProcess:
        """Start ``server``; where it dies by a signal that a flag avoids (``crash.fix``: ``--no-repack`` after a
        crash in repacked weights' kernels), say so and start it once more with that flag, which every later
        server of the sweep then gets too (its runs compare alike)."""
        try:
            return server.start()
        except ServerStartError as exc:
            log = process.read_head(server.log_path)
            flag = crash.fix(exc.signal, log, server.command, server.build_flags)
            if flag is None:
                raise
            said = (
                f"the server was {crash.killed_by(exc.signal or 0)} at start-up, in the kernels of weights "
                f"llama.cpp repacks ({', '.join(crash.repacked_buffers(log))}"
                f" buffer; log: {server.log_path}); measured with {flag}, which turns repacking off: "
                f"add {flag} to your own llama-server command too"
            )
            self.echo(f"crashed\n  WARNING: {said}\n  Retrying once with {flag} ... ", end="")
            retry = server.with_fix(flag)
            retry.start()
            facts.warnings = [*facts.warnings, said]
            self.fixes = tuple(dict.fromkeys((*self.fixes, flag)))
            return retry

    def _next_is_another_level(self, cell: Cell) -> bool:
        """In plan order (exhaustive sweeps), is the next cell this setup at another level?"""
        return (
            self.keep_levels
            and cell.index < len(self.plan)
            and not cell.setup.speculation.stateful
            and level_session(self.plan[cell.index]) == level_session(cell)
        )

    def _keep_if_shareable(self, key: tuple, server: process.ServerProcess) -> None:
        """Measure once per sweep whether per-request draft settings work; where they do, keep the server."""
        if self.probe is None:
            t0 = time.monotonic()
            self.probe = probe_per_request(server.url, self.api_key, self.cfg.settings.request_timeout_s)
            self.acct.probe_s += time.monotonic() - t0
            sessions = ONE_SERVER_PER_DRAFT if self.probe.honoured else ONE_SERVER_PER_SETUP
            self.note("per_request_speculation", self.probe)
            self.note("setup_sessions", sessions)
            self.echo(f"  {self.probe.describe()}: {sessions}")
        if self.probe.honoured:
            self.held = ("setups", key, server)
