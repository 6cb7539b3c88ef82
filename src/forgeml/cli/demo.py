"""``forgeml demo``: the whole lifecycle end to end on the embedded default."""

from __future__ import annotations

from forgeml.cli._common import JsonOption, state


def demo(as_json: bool = JsonOption) -> None:
    """Run the end-to-end lifecycle demo on a real loan-application dataset."""
    from forgeml.demo import run_demo

    run_demo(home=state.home, as_json=as_json)
