"""A lab of network namespaces for one test: switches (bridges), hosts joined by veth, daemons by PID.

Recipes and traps from ../shared/reference/netns-testing.md: bridges live in their own namespace
so the root namespace is never touched; names carry a per-run prefix and stay under 15 characters;
daemons are started with `ip netns exec` (which execs, so the PID is the daemon's) and stopped by
PID before the namespaces are deleted (deleting a namespace does not stop wireguard-go).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional


class Lab:
    def __init__(self, tag: str, workdir: Path):
        self.prefix = f"c{os.getpid() % 10000:04d}{tag}"[:7]
        self.workdir = workdir
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen] = []
        self._veths = 0

    # -- topology

    def ns(self, name: str) -> str:
        full = f"{self.prefix}{name}"[:15]
        if full not in self.namespaces:
            subprocess.run(["ip", "netns", "add", full], check=True)
            self.namespaces.append(full)
            self.ip(name, "link", "set", "lo", "up")
        return full

    def switch(self, name: str) -> str:
        ns = self.ns(name)
        self.ip(name, "link", "add", "br0", "type", "bridge")
        self.ip(name, "link", "set", "br0", "up")
        return ns

    def attach(self, host: str, ifname: str, address: Optional[str], switch: str) -> None:
        """A veth `ifname` in `host`, its peer enslaved to `switch`'s bridge."""
        self._veths += 1
        peer = f"v{self._veths}"
        subprocess.run(["ip", "link", "add", ifname, "netns", self.ns(host), "type", "veth", "peer", "name", peer,
                        "netns", self.ns(switch)], check=True)
        self.ip(switch, "link", "set", peer, "master", "br0", "up")
        if address:
            self.ip(host, "addr", "add", address, "dev", ifname)
        self.ip(host, "link", "set", ifname, "up")

    # -- commands and daemons

    def ip(self, host: str, *args: str) -> str:
        return subprocess.run(["ip", "-n", self.ns(host), *args], check=True, capture_output=True, text=True).stdout

    def exec(self, host: str, *argv: str, check: bool = True, timeout: float = 30, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.ns(host), *argv], check=check, capture_output=True, text=True,
                              timeout=timeout, **kwargs)

    def start(self, host: str, *argv: str, log: str, user_env: Optional[dict] = None) -> subprocess.Popen:
        out = open(self.workdir / log, "w")
        process = subprocess.Popen(["ip", "netns", "exec", self.ns(host), *argv], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env={**os.environ, **(user_env or {})})
        out.close()
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def close(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.processes.clear()
        self.namespaces.clear()

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> Optional[float]:
    """Seconds until `condition()` held, or None after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if condition():
                return time.monotonic() - start
        except (subprocess.CalledProcessError, OSError):
            pass
        time.sleep(interval)
    return None
