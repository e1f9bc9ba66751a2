"""The real validators, run on rendered text: haproxy, keepalived, vtysh, shellcheck, nft, WireGuard keys.

Each returns (accepted, output). Traps from ../shared/reference/netns-testing.md: `haproxy -c` passes
warnings unless `-dW`; `keepalived -t` fails on any message and needs the config's interfaces to exist,
so it runs in a scratch namespace holding them; `vtysh -C` (not `bgpd -C`) returns non-zero on errors;
`nft -c` needs a network namespace it may inspect.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
import subprocess
import tempfile
from pathlib import Path

from ..netns import Lab


def _run(argv: list[str], **kwargs) -> tuple[bool, str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kwargs)
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def _with_file(text: str, suffix: str, check) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"checked{suffix}"
        path.write_text(text)
        path.chmod(0o755)
        Path(directory).chmod(0o755)
        return check(path)


def haproxy_check(text: str) -> tuple[bool, str]:
    return _with_file(text, ".cfg", lambda p: _run(["haproxy", "-dW", "-c", "-f", str(p)]))


def shellcheck(text: str) -> tuple[bool, str]:
    return _with_file(text, ".sh", lambda p: _run(["shellcheck", "--format=gcc", str(p)]))


def vtysh_check(text: str) -> tuple[bool, str]:
    return _with_file(text, ".conf", lambda p: _run(["vtysh", "-C", "-f", str(p)]))


def in_scratch_namespace(interfaces: tuple[str, ...], argv_for, text: str, suffix: str,
                         bind: dict[str, dict[str, str]] | None = None) -> tuple[bool, str]:
    """Run a check inside a throwaway namespace that has veths named `interfaces`.

    `bind` maps a directory (e.g. /etc/keepalived) to files that appear there for the check only:
    `ip netns exec` gives the command its own mount namespace, so the bind mount never reaches the host.
    """
    with tempfile.TemporaryDirectory() as directory, Lab("k", Path(directory)) as lab:
        Path(directory).chmod(0o755)
        lab.ns("chk")
        for i, name in enumerate(interfaces):
            subprocess.run(["ip", "link", "add", name, "netns", lab.ns("chk"), "type", "veth", "peer", "name", f"p{i}",
                            "netns", lab.ns("chk")], check=True)
        path = Path(directory) / f"checked{suffix}"
        path.write_text(text)
        mounts = []
        for n, (target, files) in enumerate((bind or {}).items()):
            source = Path(directory) / f"bind{n}"
            source.mkdir(mode=0o755)
            for name, content in files.items():
                (source / name).write_text(content)
                (source / name).chmod(0o755)
            mounts.append(f"mount --bind {source} {target}")
        command = " && ".join(mounts + [shlex.join(argv_for(path))])
        result = lab.exec("chk", "sh", "-c", command, check=False)
        return result.returncode == 0, (result.stdout + result.stderr).strip()


def keepalived_check(text: str, interfaces: tuple[str, ...], etc_keepalived: dict[str, str]) -> tuple[bool, str]:
    """`keepalived -t` on the file as rendered, with the files it names present in /etc/keepalived."""
    return in_scratch_namespace(interfaces, lambda p: ["keepalived", "-t", "-e", "-f", str(p)], text, ".conf",
                                {"/etc/keepalived": etc_keepalived})


def nft_check(text: str) -> tuple[bool, str]:
    return in_scratch_namespace((), lambda p: ["nft", "-c", "-f", str(p)], text, ".nft")


WG_KEY = re.compile(r"^[A-Za-z0-9+/]{43}=$")


def is_wireguard_key(value: str) -> bool:
    """base64 of exactly 32 bytes, as `wg` requires."""
    if not WG_KEY.match(value):
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except binascii.Error:
        return False
