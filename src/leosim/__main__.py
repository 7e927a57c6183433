"""``python -m leosim`` and the ``leosim`` script.

Signal handling is installed before the command-line modules (typer, rich, numpy) are
imported, so a Ctrl-C or SIGTERM during start-up ends with one ``interrupted`` line and exit
status 130 or 143, not a traceback.
"""

from __future__ import annotations


def main() -> None:
    """Entry point of the ``leosim`` script."""
    from leosim import _signals

    _signals.install()
    try:
        from leosim.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt as exc:
        _signals.exit_interrupted(exc)


if __name__ == "__main__":
    main()
