"""One exception family. ``main`` functions turn these into one-line messages."""

from __future__ import annotations


class DraftbenchError(Exception):
    """Base of every error draftbench reports to a user (exit code 1 unless overridden)."""

    exit_code = 1


class ConfigError(DraftbenchError):
    """A config file or command-line value is wrong. Carries every problem found."""

    exit_code = 2

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{lines}")


class ShardError(DraftbenchError):
    """A shard of a fleet is named wrongly (--shard, the scheduler's environment), or shards cannot be merged."""

    exit_code = 2


class ModelFileError(DraftbenchError):
    """A model path is missing or not a GGUF file."""

    exit_code = 2


class LlamaServerNotFound(DraftbenchError):
    exit_code = 2


class PortInUse(DraftbenchError):
    exit_code = 2

    def __init__(self, host: str, port: int, holder: tuple[int, str] | None = None):
        self.port = port
        self.holder = holder
        who = "stop whatever listens there"
        if holder:
            pid, name = holder
            left = " (a llama-server left over from an earlier run?)" if "llama-server" in name else ""
            who = f"it is held by pid {pid} ({name or 'unknown program'}){left}: stop it with 'kill {pid}'"
        super().__init__(
            f"port {port} on {host} is already in use: {who}, "
            f"or pass another port (--port N, config settings.port; 0 picks a free one)"
        )


class UnsupportedSetup(DraftbenchError):
    """This llama-server build cannot run a speculation setup (unknown spec type, missing flag)."""

    exit_code = 2


class ServerStartError(DraftbenchError):
    """The server exited, or never became ready, during start-up."""

    def __init__(self, message: str, log_tail: str = "", signal: int | None = None):
        self.log_tail = log_tail
        self.signal = signal  # the signal it died of, where it was killed by one
        text = message if not log_tail else f"{message}\n--- server log (last lines) ---\n{log_tail}"
        super().__init__(text)
        self.short = message


class ServerUnreachable(DraftbenchError):
    def __init__(self, url: str, detail: str = ""):
        self.url = url
        extra = f" ({detail})" if detail else ""
        super().__init__(f"cannot reach a server at {url}{extra}: is it running, and is the URL right?")


class ResultsFileError(DraftbenchError):
    """A results file cannot be read, or must not be written."""

    exit_code = 2


class OutputFileError(ResultsFileError):
    """A path to write (results, a report) is not a regular file (a folder, FIFO, device, symlink loop) or
    cannot be written."""


class Interrupted(DraftbenchError):
    """Ctrl-C (130) or SIGTERM (143) arrived; what finished is kept."""

    def __init__(self, signum: int):
        import signal

        self.signum = signum
        self.exit_code = 130 if signum == signal.SIGINT else 143
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
