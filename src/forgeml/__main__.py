"""``python -m forgeml`` is the ``forgeml`` command."""

from forgeml.cli import main

main()
