"""Renders the settings reference from the code: ``rupt_guard.conf.DEFAULTS`` with
``SETTING_DOCS``, and each built-in provider's ``options`` with its ``option_docs``.

A page asks for one list with a fenced block ``{rupt-guard-settings} NAME LEVEL`` (NAME
``main``, ``rupt`` or ``local``; LEVEL the heading level of each key). The block is
replaced by Markdown before MyST reads the page, so each key is a heading with its own
anchor (``settings.md#challenge_timeout``).
"""

from __future__ import annotations

import re
from typing import Any

import django
from django.conf import settings
from django.utils.module_loading import import_string
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

BLOCK = re.compile(r"^```\{rupt-guard-settings\} *(\w+) *(\d)\n```$", re.MULTILINE)


def setup_django() -> None:
    # The local provider's module imports its models, so the apps must be loaded; a
    # settings module of the site's own is not needed for reading defaults.
    if not settings.configured:
        settings.configure(
            INSTALLED_APPS=[
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "django_otp",
                "rupt_guard",
                "rupt_guard.local",
            ],
            DATABASES={},
        )
        django.setup()


def literal(value: Any) -> str:
    """A default as a site writes it in settings.py, double quotes and all."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def documented(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(defaults, docs) of one list: the main settings or a built-in provider's options."""
    from rupt_guard import conf

    if name == "main":
        return conf.DEFAULTS, conf.SETTING_DOCS
    from rupt_guard.providers import ALIASES

    if name not in ALIASES:
        raise ExtensionError(f"rupt-guard-settings: no provider {name!r}")
    cls = import_string(ALIASES[name])
    return dict(cls.options), dict(cls.option_docs)


def render(name: str, level: int) -> str:
    defaults, docs = documented(name)
    missing = sorted(set(defaults) ^ set(docs))
    if missing:
        raise ExtensionError(
            f"rupt-guard-settings {name}: defaults and descriptions differ on {missing}"
        )
    parts = []
    for key, doc in docs.items():
        parts.append(
            f"{'#' * level} `{key}`\n\n"
            f"Default: `{literal(defaults[key])}` · Takes: {doc.kind}\n\n"
            f"{doc.meaning}\n"
        )
    return "\n".join(parts)


def expand(app: Sphinx, docname: str, source: list[str]) -> None:
    setup_django()
    source[0] = BLOCK.sub(lambda m: render(m.group(1), int(m.group(2))), source[0])


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("source-read", expand)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
