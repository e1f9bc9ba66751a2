"""Who may log in to a VM: the stack's own key and the operators' keys from the stack file.

Disk edit installs the keys once, when a disk is made; afterwards this script keeps the login user's
`authorized_keys` equal to the stack file, so adding or removing an operator key is an in-place
update of one command per VM, never a new disk. The stack's own key always stays first: the program
reaches every VM with it.
"""

from __future__ import annotations

from .shell import script


def authorized_keys(stack_key: str, operator_keys: tuple[str, ...]) -> str:
    lines = ["# Managed by contest-k8s from the stack file (ssh.authorizedKeys); edits here are overwritten.", stack_key.strip()]
    return "\n".join(lines + [key.strip() for key in operator_keys]) + "\n"


def authorized_keys_script(node: str, user: str, stack_key: str, operator_keys: tuple[str, ...]) -> str:
    text = authorized_keys(stack_key, operator_keys)
    body = f"""\
home=$(getent passwd {user} | cut -d: -f6)
[ -n "$home" ] || {{ echo "contest-k8s: no user {user} on $(hostname)" >&2; exit 3; }}
if [ ! -d "$home/.ssh" ]; then
  install -d -m 0700 "$home/.ssh"
  chown {user}:{user} "$home/.ssh"
fi
if put "$home/.ssh/authorized_keys" 0600 <<'CONTEST_K8S_EOF'; then
{text}CONTEST_K8S_EOF
  chown {user}:{user} "$home/.ssh/authorized_keys"
fi
"""
    return script(f"SSH keys of {user} on {node}: the stack's key and the operators' keys.", body)
