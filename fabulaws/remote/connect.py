"""Fabric connections that verify host keys against the project's known_hosts."""

from __future__ import annotations

from typing import Any

from fabric import Config, Connection

from .hostkeys import KnownHosts


def connect(host: str, user: str | None = None, key_filename: str | None = None, config: Config | None = None,
            known: KnownHosts | None = None, timeout: float = 10, forward_agent: bool | None = None) -> Connection:
    """A Connection to ``host``: ``user`` unless the host says ``user@``, host keys verified (first contact recorded)."""
    known = known or KnownHosts()
    # Fabric adds the config's connect_kwargs (e.g. -i identity files) to these. The TCP connect timeout is
    # Fabric's own (ssh_config's ConnectTimeout, then -t, then ours): giving it in connect_kwargs as well
    # makes Fabric refuse every connection ("Refusing to be ambiguous").
    kwargs: dict[str, Any] = {"banner_timeout": timeout, "auth_timeout": timeout}
    if key_filename:
        kwargs.update(key_filename=key_filename, look_for_keys=False)
    config = config.clone() if config is not None else Config()
    if config.timeouts.connect is None and "timeout" not in config.connect_kwargs:
        config.timeouts.connect = timeout
    config.run.in_stream = False  # remote commands never read the operator's terminal; prompts get watchers
    cxn = Connection(host, user=None if "@" in host else user, config=config, connect_kwargs=kwargs, forward_agent=forward_agent)
    cxn.client.set_missing_host_key_policy(known.policy())
    if known.path.exists():
        cxn.client.load_host_keys(str(known.path))
    return cxn
