"""Until ``tests/conftest.py`` registers ``conftest_api`` as a plugin, import its fixtures here."""

from conftest_api import api_server, api_server_session

__all__ = ["api_server", "api_server_session"]
