"""``python -m leosim.cli``: the same as ``python -m leosim`` (signals handled first)."""

from leosim.__main__ import main

main()
