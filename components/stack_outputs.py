"""Other stacks' outputs, read the way that lets a stack come up before the stacks it reads.

A StackReference to a stack that does not exist yet fails the whole run, and bringing up wsp before
prd and dev must work. The engine's built-in `readStackOutputs` invoke answers the same outputs and
fails alone, so a missing stack (or output) is skipped with a warning and picked up by a later update;
any other failure to read it stops the run.

The invoke hands back secret outputs in clear (it only says that some were secret), so a secret
output is read only as a secret Output (`StackOutputs.secret`), never as a plain value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi

READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"  # the engine's built-in read of another stack's outputs
# The engine's error for a stack its backend does not have (pkg/backend: backendClient.GetStackOutputs); any other
# failure (the backend unreachable, no access to that state) is not taken for a missing stack.
UNKNOWN_STACK = 'unknown stack "'


@dataclass(frozen=True)
class StackOutputs:
    stack: str
    values: dict
    secret_names: frozenset[str]

    def plain(self, name: str) -> Any:
        """An output that is not secret (None when the stack has no such output)."""
        if name in self.secret_names:
            raise ValueError(f"output {name} of {self.stack} is secret: read it with secret()")
        return self.values.get(name)

    def secret(self, name: str) -> Optional[pulumi.Output]:
        """An output as a secret, whatever the stack marked it (None when it has no such output)."""
        return pulumi.Output.secret(self.values[name]) if self.values.get(name) is not None else None


def read_plain_output(stack: str, name: str, reader: str, resource: pulumi.Resource) -> Any:
    """Output `name` of `stack` (not a secret one), or None with a warning, naming `reader`, while the stack does not
    exist or has not exported it yet: it is left out until an update after that."""
    outputs = read_stack_outputs(stack, reader, resource)
    if outputs is None:
        return None
    value = outputs.plain(name)
    if not value:
        pulumi.log.warn(f"{reader}: stack {stack} has no {name} output yet; it is left out until the next update", resource)
        return None
    return value


def read_stack_outputs(stack: str, reader: str, resource: pulumi.Resource) -> Optional[StackOutputs]:
    """The outputs of `stack` (organization/project/stack), or None with a warning, naming `reader`, when the backend
    has no such stack yet. Any other failure stops the run: leaving the stack out on a guess would remove what was
    made from it (a tunnel, a cluster registration)."""
    try:
        result = pulumi.runtime.invoke(READ_STACK_OUTPUTS, {"name": stack}).value or {}
    except Exception as e:  # noqa: BLE001: the engine reports every failure of the read as an invoke failure
        if UNKNOWN_STACK not in str(e):
            raise pulumi.RunError(f"{reader}: the outputs of stack {stack} cannot be read ({e}); nothing made from them is "
                                  "changed on a guess: give this run access to that stack's state (the same backend and "
                                  "secrets passphrase or provider), then run again") from None
        pulumi.log.warn(f"{reader}: stack {stack} cannot be read ({e}); it is left out until an update after that stack "
                        "exists", resource)
        return None
    return StackOutputs(stack, dict(result.get("outputs") or {}), frozenset(result.get("secretOutputNames") or ()))
