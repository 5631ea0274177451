"""``descend serve``: the playground, the chapter's figures made interactive in the browser."""

from __future__ import annotations

import ipaddress

import click

from descend.cli import Mistake, main


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@main.command("serve")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: a free one, printed).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback lets other machines run optimizers here.",
)
@click.option("--no-browser", is_flag=True, help="Do not open the page in the browser.")
def serve_command(port: int, host: str, no_browser: bool) -> None:
    """The playground: pick a function and up to four optimizers, move their hyperparameters with sliders
    and watch the paths, the loss, the stability map and the schedule change. Ctrl-C stops it.

    The page asks this server for every path (GET /api/trace?function=NAME&optimizer=SPEC&steps=N&start=X1,X2
    answers {"path": [[x1, x2], ...], "values": [...]}), so what it draws is descend.minimize's own run.

    \b
    Example:
      descend serve --port 8001 --no-browser
    """  # fmt: skip
    from descend.lab.playground import server

    try:
        sock = server.bind(host.strip("[]"), port)
    except OSError as e:
        why = "is in use" if e.errno in (98, 48, 10048) else f"cannot be used ({e.strerror or e})"
        raise Mistake(f"Invalid --port/--host: {host}:{port} {why}; choose another with --port") from None
    if not _loopback(host):
        click.echo(f"warning: listening on {host}: other machines can reach this server", err=True)

    def ready(url: str) -> None:
        click.echo(f"descend playground at {url} (Ctrl-C to stop)")
        click.get_text_stream("stdout").flush()

    try:
        server.serve(sock, open_browser=not no_browser, ready=ready)
    except KeyboardInterrupt:  # uvicorn has shut down cleanly, then passes the Ctrl-C on
        pass
    finally:
        sock.close()
    click.echo("stopped")
