"""``leosim serve``: the offline web app on a local port."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError, LeosimError
from ._util import console, fail


def _model(scenario: Path | None, policies: list[Path]):
    from ..borders import Borders
    from ..policy import load_policy
    from ..scenario import DEMO_SCENARIO_TOML, load_scenario, parse_scenario
    from ..web.data import WebModel

    if scenario is None:
        sc = parse_scenario(tomllib.loads(DEMO_SCENARIO_TOML), source="<built-in demo>")
    else:
        sc = load_scenario(scenario)
    borders = Borders.default()
    pols = [load_policy(p, borders=borders) for p in policies]
    return WebModel.build(sc, pols)


def command(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario TOML file (omit for the built-in demo).")
    ] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option("--policy", "-p", help="Policy TOML (repeat to compare several)."),
    ] = None,
    port: Annotated[int, typer.Option(help="TCP port (0: any free one).", min=0, max=65535)] = 8765,
    host: Annotated[
        str, typer.Option(help="Address to listen on (default: this machine only).")
    ] = "127.0.0.1",
) -> None:
    """Serve the web app: a globe with the satellites, routes with their RTT, the policy map."""
    try:
        try:
            import uvicorn

            from ..web.app import create_app
        except ModuleNotFoundError as exc:
            raise InputError(
                f"leosim serve needs the web extra ({exc.name} is missing): "
                "pip install 'leosim[web]'"
            ) from None
        model = _model(scenario, [Path(p) for p in policy or []])
        app = create_app(model)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning")
        server = uvicorn.Server(config)
        sock = _bind(config, host, port)
    except LeosimError as exc:
        fail(exc)
    real_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"{model.scenario.name}: {model.network.num_sats:,} satellites, "
        f"{model.network.num_gs:,} stations; serving on http://{shown}:{real_port}/ (Ctrl-C stops)",
        soft_wrap=True,
    )
    server.run(sockets=[sock])


def _bind(config, host: str, port: int):
    """Bind the listening socket first, so a busy port is one ``error:`` line."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            key="--host" if isinstance(exc, socket.gaierror) else "--port",
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
