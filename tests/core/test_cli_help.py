"""Every command's --help shows each option's default, and the description names every family."""

from __future__ import annotations

import argparse

import pytest

from clipbridge.cli.main import build_parser
from clipbridge.cli.options import DefaultsFormatter
from clipbridge.models.families import FAMILIES


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _has_default(action: argparse.Action) -> bool:
    skip = (argparse._StoreConstAction, argparse._HelpAction, argparse._VersionAction)
    return (
        bool(action.option_strings)
        and not isinstance(action, skip)
        and (action.default is not None and action.default != [] and action.default is not False)
    )


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_every_option_with_a_default_shows_it(command: str) -> None:
    parser = _subparsers()[command]
    text = " ".join(parser.format_help().split())
    options = [a for a in parser._actions if _has_default(a)]
    assert options, f"{command} has no option with a default"
    for action in options:
        formatted = parser._get_formatter()._get_help_string(action) % vars(action)
        assert "default" in formatted.lower(), (command, action.option_strings)
        assert " ".join(formatted.split()) in text, (command, action.option_strings)


def test_a_zero_default_is_shown_and_a_flag_is_not() -> None:
    parser = argparse.ArgumentParser(formatter_class=DefaultsFormatter)
    parser.add_argument("--gpus", type=float, default=0, help="GPUs")
    parser.add_argument("--fast", action="store_true", help="go fast")
    parser.add_argument("--port", type=int, default=8080, help="port (default: 8080, the usual)")
    text = " ".join(parser.format_help().split())
    assert "GPUs (default: 0)" in text
    assert "go fast (default" not in text
    assert text.count("default: 8080") == 1


def test_description_names_every_model_family() -> None:
    text = build_parser().description
    for name in ("jina-clip-v1", "jina-clip-v2", "CLIP", "SigLIP", "ONNX Runtime", "Jina API"):
        assert name in text
    for family in FAMILIES:
        assert family.name in text.lower(), family.name
