"""Scripts on the VMs over SSH with pulumi-command, avoiding the traps its users report.

- A dead host must not hang a run: every connection has `dial_error_limit` and `per_dial_timeout`
  (about five minutes in all, enough for a VM that has just booted).
- A spurious diff on `connection` would re-run a command: connection inputs are only the planned
  address, the user and the stack's key, all stable between runs.
- A script runs again only when its text changes: the text goes in `stdin` (the remote side writes it
  to a private temporary file and runs that) and its SHA-256 (of the reviewable text, secrets as
  placeholders) into the `create` command line, so a changed script previews as an update of its
  command (pulumi-command then runs `create` again), visible even where `stdin` is secret. `triggers`
  hold only what must replace the command: its host's identity. Every script is safe to run twice.
- Secrets are filled into the text only here, inside a secret Output; `stdin` is therefore secret.
- Workers sit on the private switch: they are reached through the router as an SSH jump host.
- Every host's SSH host key is pinned: the first contact with a VM only reads its public host key
  (`record_host_key`; nothing secret is sent), and every later connection to it, including as a jump
  host, accepts that key only. A changed key fails the run (`ssh: handshake failed: ssh: host key
  mismatch`) before a CA key, a token or a password goes to whatever answers on the address.
- A host's `ready` resources (its VM, the sudo grant, the router that forwards to it) come before
  any script on it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_command as command

from .render.secrets import fill

DIAL_ERROR_LIMIT = 30
PER_DIAL_TIMEOUT = 10


# A script is written to a private temporary file and run from there, not read by the shell from
# stdin: a command inside it that reads stdin could otherwise swallow the rest of the script.
# (VyOS needs this anyway: its script template re-executes its own script file.)
def _from_temp_file(runner: str) -> str:
    return f'f=$(mktemp) && cat > "$f" && {runner} "$f"; rc=$?; rm -f "$f"; exit $rc'


NODE_INTERPRETER = _from_temp_file("sudo bash")
VYOS_INTERPRETER = _from_temp_file("/bin/vbash")


@dataclass(frozen=True)
class Host:
    """Where a script runs: an address and user, the jump host in front of it, what must exist first,
    and its identity (the Pulumi IDs of its server and boot disk: stable across a resize, new when
    the VM or its disk is replaced, which re-runs every script on it)."""

    name: str
    address: pulumi.Input[str]
    user: str
    jump: Optional["Host"] = None
    ready: tuple[pulumi.Resource, ...] = ()
    interpreter: str = NODE_INTERPRETER
    identity: tuple[pulumi.Input[str], ...] = ()
    host_key: Optional[pulumi.Input[str]] = None  # the VM's public SSH host key, as recorded on first contact


@dataclass(frozen=True)
class SshAccess:
    private_key: pulumi.Input[str]

    def connection(self, host: Host) -> command.remote.ConnectionArgs:
        proxy = None
        if host.jump is not None:
            proxy = command.remote.ProxyConnectionArgs(
                host=host.jump.address, user=host.jump.user, private_key=self.private_key, host_key=host.jump.host_key,
                dial_error_limit=DIAL_ERROR_LIMIT, per_dial_timeout=PER_DIAL_TIMEOUT,
            )
        return command.remote.ConnectionArgs(
            host=host.address, user=host.user, private_key=self.private_key, proxy=proxy, host_key=host.host_key,
            dial_error_limit=DIAL_ERROR_LIMIT, per_dial_timeout=PER_DIAL_TIMEOUT,
        )


HOST_KEY_FILE = "/etc/ssh/ssh_host_ed25519_key.pub"


def record_host_key(resource_name: str, host: Host, access: SshAccess, *, parent: pulumi.Resource) -> Host:
    """Read the VM's host key once (per VM: tied to its identity) and return the host pinned to it."""
    recorded = command.remote.Command(
        resource_name,
        connection=access.connection(host),
        create=f"cat {HOST_KEY_FILE}",
        triggers=list(host.identity),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(host.ready)),
    )
    return dataclasses.replace(host, host_key=recorded.stdout.apply(str.strip), ready=(recorded,))


def as_command(text: pulumi.Input[str], host: Host) -> pulumi.Output[str]:
    """A script as one command line (for `delete`, which gets no stdin): the script in a quoted heredoc."""
    tag = "CONTEST_K8S_SCRIPT"
    return pulumi.Output.from_input(text).apply(lambda t: f"{{ {host.interpreter}; }} <<'{tag}'\n{t.rstrip()}\n{tag}\n")


SUDOERS = "/etc/sudoers.d/90-contest-k8s"


def grant_sudo(resource_name: str, host: Host, access: SshAccess, password: pulumi.Input[str], *,
               parent: pulumi.Resource) -> command.remote.Command:
    """Let the login user run sudo without a password, using once the password set by disk edit.

    Sakura's Ubuntu archives are set up by disk edit, not cloud-init, so the login user's sudo may
    ask for that password (SSH password login itself stays disabled). The password reaches sudo on
    stdin (`sudo -S`), a secret input: never on the command line, which pulumi-command prints when a
    command fails and `ps` shows while it runs. Harmless where sudo already needs no password.
    """
    rule = f"{host.user} ALL=(ALL) NOPASSWD:ALL"
    install = (f"echo '{rule}' > {SUDOERS}.new && chmod 0440 {SUDOERS}.new && visudo -cqf {SUDOERS}.new "
               f"&& mv {SUDOERS}.new {SUDOERS}")
    return command.remote.Command(
        resource_name,
        connection=access.connection(host),
        create=f"sudo -S -p '' sh -c \"{install}\"",
        stdin=pulumi.Output.secret(pulumi.Output.from_input(password).apply(lambda pw: pw + "\n")),
        triggers=list(host.identity),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(host.ready)),
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def run_script(resource_name: str, host: Host, access: SshAccess, text: pulumi.Input[str], *,
               secrets: Optional[Mapping[str, pulumi.Input[str]]] = None,
               delete: Optional[pulumi.Input[str]] = None, parent: pulumi.Resource,
               depends_on: Sequence[pulumi.Resource] = (), extra_triggers: Sequence[pulumi.Input] = (),
               delete_before_replace: bool = False, tied_to_host: bool = True) -> command.remote.Command:
    """Run `text` (reviewable, with `<secret:NAME>` placeholders) on `host`, filling in `secrets`.

    The command runs again (an update) when its text changes, and is replaced when its host's identity
    (unless not `tied_to_host`) or `extra_triggers` (another node's identity, the Kubernetes version)
    change. `delete` runs when the command is deleted or replaced, before the replacement when
    `delete_before_replace` is set.
    """
    secrets = dict(secrets or {})
    names = sorted(secrets)

    def filled(args: list) -> str:
        script, *values = args
        return fill(script, dict(zip(names, values)))

    stdin = pulumi.Output.all(text, *[secrets[n] for n in names]).apply(filled)
    if names:
        stdin = pulumi.Output.secret(stdin)
    return command.remote.Command(
        resource_name,
        connection=access.connection(host),
        create=pulumi.Output.from_input(text).apply(lambda t: f": script sha256:{sha256(t)}; {host.interpreter}"),
        stdin=stdin,
        delete=delete,
        triggers=[*(host.identity if tied_to_host else ()), *extra_triggers],
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[*host.ready, *list(depends_on)],
                                    delete_before_replace=delete_before_replace),
    )
