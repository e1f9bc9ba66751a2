"""Secret placeholders: rendered text names a secret, the layer fills it in only for the host.

Render functions never see a secret. They write `<secret:NAME>` where one belongs, so every
rendered file can be reviewed, diffed and validated as is; the layer replaces the placeholders
with the real values inside a secret Output just before the text goes to a host.
"""

from __future__ import annotations

import re
from typing import Mapping

_PLACEHOLDER = re.compile(r"<secret:([a-z0-9][a-z0-9-]*)>")


def secret(name: str) -> str:
    """The placeholder for secret NAME."""
    if not _PLACEHOLDER.fullmatch(f"<secret:{name}>"):
        raise ValueError(f"bad secret name {name!r}")
    return f"<secret:{name}>"


def placeholders(text: str) -> set[str]:
    """Names of the secrets a text needs."""
    return set(_PLACEHOLDER.findall(text))


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace every placeholder; a placeholder without a value is a bug, not a silent gap."""
    missing = placeholders(text) - set(values)
    if missing:
        raise KeyError(f"no value for secrets: {', '.join(sorted(missing))}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
