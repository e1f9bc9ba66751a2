"""The real Pulumi engine for tests: the CLI, language host and plugins that scripts/toolchain.sh builds.

`Engine(project_dir, workdir)` runs `.tools/bin/pulumi` on one project with everything private to the
test: its own PULUMI_HOME (with the plugins directory of `.tools/pulumi-home` linked in, where the
engine only touches its `*.lastused` marks), a fresh `pulumi login file://<workdir>/state`, a
passphrase secrets provider, no update check and no automatic plugin download (nothing leaves the
machine). Each call returns what it printed and how long it took, so a test can report its timings.

`require_engine()` skips a test, naming the missing tool and the command that builds it, when the
toolchain is absent.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
BIN = TOOLS / "bin"
PULUMI_HOME = TOOLS / "pulumi-home"
REQUIREMENTS = ROOT / "requirements.txt"

# What `scripts/toolchain.sh pulumi` puts in .tools/bin.
ENGINE_BINARIES = ("pulumi", "pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python")
# Resource plugins installed into .tools/pulumi-home at the versions requirements.txt pins, with the
# toolchain group that builds each (random, tls and command are test stand-ins: see tools/cmd/).
# The engine loads a plugin only when the program uses one of its resources.
ENGINE_PLUGINS = {"random": ("pulumi-random", "pulumi"), "tls": ("pulumi-tls", "pulumi"),
                  "command": ("pulumi-command", "pulumi"), "kubernetes": ("pulumi-kubernetes", "pulumi-kubernetes")}
PASSPHRASE = "engine-test-passphrase"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # the marker of a secret value in state


def pinned_version(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==([^\s;#]+)", REQUIREMENTS.read_text(), re.MULTILINE)
    if not match:
        raise LookupError(f"{package} is not pinned in requirements.txt")
    return match.group(1)


def missing_engine_tools(plugins: Sequence[str] = ("random", "tls")) -> list[tuple[str, str]]:
    """(path relative to the project, toolchain group that builds it) for each missing piece."""
    missing = [(f".tools/bin/{name}", "pulumi") for name in ENGINE_BINARIES if not os.access(BIN / name, os.X_OK)]
    for plugin in plugins:
        package, group = ENGINE_PLUGINS[plugin]
        version = pinned_version(package)
        binary = PULUMI_HOME / "plugins" / f"resource-{plugin}-v{version}" / f"pulumi-resource-{plugin}"
        if not os.access(binary, os.X_OK):
            missing.append((str(binary.relative_to(ROOT)), group))
    return missing


def require_engine(plugins: Sequence[str] = ("random", "tls")) -> None:
    """Skip the calling test unless the CLI, the language host and the given plugins are built."""
    missing = missing_engine_tools(plugins)
    if missing:
        groups = " ".join(dict.fromkeys(group for _, group in missing))
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        pytest.skip(f"needs {missing[0][0]}{more}: run scripts/toolchain.sh {groups}")


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (f"`pulumi {' '.join(self.args)}` exited {self.returncode} after {self.seconds:.1f} s\n"
                f"--- stdout\n{self.stdout[-6000:]}\n--- stderr\n{self.stderr[-6000:]}")


@dataclass
class Engine:
    """The real `pulumi` CLI on one project directory, with a private home and local state backend."""

    project_dir: Path
    workdir: Path
    passphrase: str = PASSPHRASE
    extra_env: dict[str, str] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)

    plugins: Sequence[str] = ("random", "tls")

    def __post_init__(self) -> None:
        require_engine(self.plugins)
        self.home = self.workdir / "pulumi-home"
        self.state = self.workdir / "state"
        self.home.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)
        # The whole plugins directory is linked: the engine does not follow links to single plugin dirs.
        link = self.home / "plugins"
        if not link.exists():
            link.symlink_to(PULUMI_HOME / "plugins", target_is_directory=True)
        self.env = self._environment()
        self.run("login", f"file://{self.state}", timed=False)

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PULUMI_", "AWS_", "AZURE_", "ARM_", "GOOGLE_", "SAKURACLOUD_"))}
        env.update({
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "PULUMI_HOME": str(self.home),
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
            "PULUMI_SKIP_UPDATE_CHECK": "1",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
            "PULUMI_TELEMETRY_DISABLED": "true",
            "NO_COLOR": "1",
        })
        env.update(self.extra_env)
        return env

    def run(self, *args: str, stack: Optional[str] = None, check: bool = True, timed: bool = True,
            timeout: float = 600, label: Optional[str] = None) -> Result:
        """`pulumi ARGS [--stack STACK] --non-interactive` in the project directory."""
        argv = list(args)
        if stack is not None:
            argv += ["--stack", stack]
        argv.append("--non-interactive")
        started = time.monotonic()
        proc = subprocess.run([str(BIN / "pulumi"), *argv], cwd=self.project_dir, env=self.env,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
        if timed:
            self.timings.append((label or " ".join(args[:1]), result.seconds))
        if check and result.returncode != 0:
            pytest.fail(result.describe(), pytrace=False)
        return result

    def stack_init(self, stack: str) -> Result:
        return self.run("stack", "init", stack, "--secrets-provider", "passphrase", timed=False)

    def report(self) -> str:
        return ", ".join(f"{label} {seconds:.1f} s" for label, seconds in self.timings)


def python_project(directory: Path, name: str, program: str, *, virtualenv: Path,
                   extra_files: Sequence[tuple[str, str]] = ()) -> Path:
    """A throwaway Python project: Pulumi.yaml (runtime python, pip, the given virtualenv) and __main__.py."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Pulumi.yaml").write_text(
        f"name: {name}\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {virtualenv}\n")
    (directory / "__main__.py").write_text(program)
    for relative, text in extra_files:
        (directory / relative).write_text(text)
    return directory


def project_venv() -> Path:
    """The project's virtualenv (the one .ci/run and the README create)."""
    venv = ROOT / ".venv"
    if not (venv / "bin" / "python").exists():
        pytest.skip("needs the project's .venv (python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt)")
    return venv
