"""Check VyOS `set` lines against the VyOS 1.4 configuration command tree (../shared/upstream/vyos/).

Implements the walk and value rules that ../shared/upstream/vyos/README.md describes: shell-like
tokens, node / tagNode / leafNode, valueless and valued leaves, constraints as regexes (PCRE,
wrapped `^...$` by concatenation, POSIX classes translated) and validators. A value is valid if any
regex, any validator, or any whole constraint group accepts it. Validators that depend on the
router's runtime state (files, interfaces present) cannot be decided here: when only they could
accept a value the line is UNVERIFIED, which a test treats as a failure.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import shlex
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

ACCEPT, REJECT, UNVERIFIED = "accept", "reject", "unverified"
RUNTIME_VALIDATORS = {"file-path", "script", "sysctl", "timezone", "wireless-phy", "url", "ddclient-protocol", "port-range",
                      "ipv4-range-mask", "ipv6-srv6-segments", "as-number-list"}
POSIX_CLASSES = {"[:alnum:]": "a-zA-Z0-9", "[:alpha:]": "a-zA-Z", "[:digit:]": "0-9", "[:ascii:]": "\\x00-\\x7f",
                 "[:space:]": " \\t\\n\\r\\f\\v", "[:upper:]": "A-Z", "[:lower:]": "a-z", "[:xdigit:]": "0-9a-fA-F",
                 "[:punct:]": "!-/:-@\\[-`{-~", "[:print:]": " -~", "[:graph:]": "!-~"}


@dataclass(frozen=True)
class Verdict:
    result: str
    line: str
    reason: str = ""


class CommandTree:
    def __init__(self, path: Path):
        document = json.loads(path.read_text())
        if document.get("format") != "vyos-command-tree/1":
            raise ValueError(f"{path}: not a vyos-command-tree/1 file")
        self.root = document["root"]

    def check(self, line: str) -> Verdict:
        try:
            words = shlex.split(line)
        except ValueError as e:
            return Verdict(REJECT, line, f"cannot tokenize: {e}")
        if not words or words[0] != "set":
            return Verdict(REJECT, line, "not a set command")
        words = words[1:]
        node, path, i = self.root, [], 0
        unverified = []
        while i < len(words):
            word = words[i]
            children = node.get("children") or {}
            if word not in children:
                return Verdict(REJECT, line, f"{word!r} is not a valid child of [{' '.join(path) or 'top level'}]")
            node = children[word]
            path.append(word)
            i += 1
            kind = node["type"]
            if kind == "tagNode":
                if i >= len(words):
                    return Verdict(REJECT, line, f"[{' '.join(path)}] is a tagNode and needs a name/value")
                result = check_value(node, words[i])
                if result == REJECT:
                    return Verdict(REJECT, line, f"{words[i]!r} is not a valid name for [{' '.join(path)}]")
                if result == UNVERIFIED:
                    unverified.append(words[i])
                path.append(words[i])
                i += 1
            elif kind == "leafNode":
                if node["valueless"]:
                    if i < len(words):
                        return Verdict(REJECT, line, f"[{' '.join(path)}] is valueless; unexpected {words[i]!r}")
                    break
                if i >= len(words):
                    return Verdict(REJECT, line, f"[{' '.join(path)}] requires a value")
                if i + 1 < len(words):
                    return Verdict(REJECT, line, f"[{' '.join(path)}] is a leaf; unexpected {words[i + 1]!r} after its value")
                result = check_value(node, words[i])
                if result == REJECT:
                    return Verdict(REJECT, line, f"value {words[i]!r} is not valid for [{' '.join(path)}]")
                if result == UNVERIFIED:
                    unverified.append(words[i])
                i += 1
        if unverified:
            return Verdict(UNVERIFIED, line, f"only a runtime validator could accept {', '.join(unverified)}")
        return Verdict(ACCEPT, line)


def check_value(node: dict, value: str) -> str:
    constraint = node.get("constraint")
    groups = node.get("constraintGroup") or []
    if constraint is None and not groups:
        return ACCEPT
    outcomes = []
    if constraint is not None:
        outcomes += [ACCEPT if regex_accepts(r, value) else REJECT for r in constraint.get("regex") or []]
        outcomes += [validate(v, value) for v in constraint.get("validator") or []]
    for group in groups:
        parts = [ACCEPT if regex_accepts(r, value) else REJECT for r in group.get("regex") or []]
        parts += [validate(v, value) for v in group.get("validator") or []]
        outcomes.append(REJECT if REJECT in parts else UNVERIFIED if UNVERIFIED in parts else ACCEPT)
    if ACCEPT in outcomes:
        return ACCEPT
    return UNVERIFIED if UNVERIFIED in outcomes else REJECT


@lru_cache(maxsize=None)
def _compiled(regex: str) -> re.Pattern:
    for posix, ascii_range in POSIX_CLASSES.items():
        regex = regex.replace(posix + "-", ascii_range + "\\-").replace(posix, ascii_range)
    return re.compile("^" + regex + "$")


def regex_accepts(regex: str, value: str) -> bool:
    return _compiled(regex).search(value) is not None


# --------------------------------------------------------------------------- validators


def validate(spec: str, value: str) -> str:
    name, _, args = spec.partition(" ")
    if name in RUNTIME_VALIDATORS or name.startswith("bgp-"):
        return UNVERIFIED
    check = VALIDATORS.get(name)
    if check is None:
        return UNVERIFIED
    return ACCEPT if check(value, args) else REJECT


def _numeric(value: str, args: str) -> bool:
    opts = args.split()
    ranges = [opts[i + 1] for i, o in enumerate(opts) if o == "--range"]
    not_ranges = [opts[i + 1] for i, o in enumerate(opts) if o == "--not-range"]
    not_values = [opts[i + 1] for i, o in enumerate(opts) if o == "--not-value"]
    allow_range, require_range = "--allow-range" in opts, "--require-range" in opts
    relative, floats = "--relative" in opts, "--float" in opts
    if relative and value[:1] in "+-":
        value = value[1:]
    number = r"\d+(\.\d+)?" if floats else r"\d+"

    def in_ranges(n: float) -> bool:
        if not ranges:
            return True
        return any(float(r.split("-")[0]) <= n <= float(r.split("-")[1]) for r in ranges)

    def excluded(n: float) -> bool:
        return any(float(r.split("-")[0]) <= n <= float(r.split("-")[1]) for r in not_ranges) or any(float(v) == n for v in not_values)

    def single(text: str) -> bool:
        if not re.fullmatch(number, text):
            return False
        n = float(text)
        if "--positive" in opts and n <= 0:
            return False
        return in_ranges(n) and not excluded(n)

    if re.fullmatch(f"{number}-{number}", value) and (allow_range or require_range):
        low, high = value.split("-")
        return single(low) and single(high) and float(low) <= float(high)
    return not require_range and single(value)


def _address(version: Optional[int]):
    def check(value: str, args: str) -> bool:
        if "/" in value:
            return False
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return version is None or address.version == version
    return check


def _prefix(version: Optional[int]):
    def check(value: str, args: str) -> bool:
        if "/" not in value:
            return False
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError:
            return False
        return version is None or network.version == version
    return check


def _host(version: Optional[int]):
    def check(value: str, args: str) -> bool:
        if "/" not in value:
            return False
        try:
            interface = ipaddress.ip_interface(value)
        except ValueError:
            return False
        if version is not None and interface.version != version:
            return False
        full = interface.network.max_prefixlen
        return interface.ip != interface.network.network_address or interface.network.prefixlen in (full - 1, full)
    return check


def _cidr(value: str, args: str) -> bool:
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        return False
    return "/" in value


def _any_ip(version: int):
    def check(value: str, args: str) -> bool:
        try:
            return ipaddress.ip_interface(value).version == version
        except ValueError:
            return False
    return check


def _range(version: int):
    def check(value: str, args: str) -> bool:
        if value.count("-") != 1:
            return False
        low, high = value.split("-")
        try:
            a, b = ipaddress.ip_address(low), ipaddress.ip_address(high)
        except ValueError:
            return False
        return a.version == b.version == version and a < b
    return check


def _exclude(base):
    return lambda value, args: value.startswith("!") and base(value[1:], args)


def _base64(value: str, args: str) -> bool:
    try:
        base64.b64decode(value)
    except (binascii.Error, ValueError):
        return False
    return True


def _port_multi(value: str, args: str) -> bool:
    for item in value.split(","):
        item = item.lstrip("!")
        if re.fullmatch(r"\d+-\d+", item):
            low, high = map(int, item.split("-"))
            if not 1 <= low <= high <= 65535:
                return False
        elif re.fullmatch(r"\d+", item):
            if not 1 <= int(item) <= 65535:
                return False
        elif not re.fullmatch(r"[a-z][a-z0-9-]*", item):
            return False
    return True


VALIDATORS = {
    "numeric": _numeric,
    "numeric-exclude": lambda v, a: _numeric(v.lstrip("!"), a),
    "ipv4-address": _address(4), "ipv6-address": _address(6), "ip-address": _address(None),
    "ipv4-prefix": _prefix(4), "ipv6-prefix": _prefix(6), "ip-prefix": _prefix(None),
    "ipv4-host": _host(4), "ipv6-host": _host(6), "ip-host": _host(None),
    "ip-cidr": _cidr, "ipv4": _any_ip(4), "ipv6": _any_ip(6),
    "ipv4-range": _range(4), "ipv6-range": _range(6),
    "ipv6-link-local": lambda v, a: _address(6)(v, a) and ipaddress.ip_address(v).is_link_local,
    "ipv4-multicast": lambda v, a: _address(4)(v, a) and ipaddress.ip_address(v).is_multicast,
    "ipv6-multicast": lambda v, a: _address(6)(v, a) and ipaddress.ip_address(v).is_multicast,
    "ipv6-eui64-prefix": lambda v, a: _prefix(6)(v, a) and v.endswith("/64"),
    "mac-address": lambda v, a: re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", v) is not None,
    "fqdn": lambda v, a: re.fullmatch(r"[A-Za-z0-9][-.A-Za-z0-9]*", v) is not None,
    "base64": _base64,
    "vrf-name": lambda v, a: 1 <= len(v) <= 15 and v != "lo" and not re.match(r"(eth|br|bond|wg|lo|dum|veth|vxlan)\d", v),
    "port-multi": _port_multi,
    "ip-protocol": lambda v, a: re.fullmatch(r"!?(\d{1,3}|[a-z][a-z0-9_-]*)", v) is not None and (not v.lstrip("!").isdigit() or int(v.lstrip("!")) <= 255),
}
for _base_name in ("ipv4-address", "ipv6-address", "ip-address", "ipv4-prefix", "ipv6-prefix", "ip-prefix", "ipv4-host",
                   "ipv6-host", "ip-host", "ipv4-range", "ipv6-range"):
    VALIDATORS[f"{_base_name}-exclude"] = _exclude(VALIDATORS[_base_name])
