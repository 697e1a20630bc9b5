from __future__ import annotations

import importlib

import pytest

from clipbridge import integrations


@pytest.mark.parametrize("name", sorted(integrations.MODULES))
def test_alias_points_at_the_framework_module(name):
    assert getattr(integrations, name) is importlib.import_module(integrations.MODULES[name])


def test_unknown_alias():
    with pytest.raises(AttributeError):
        integrations.crewai  # noqa: B018
