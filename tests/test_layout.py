"""The package's layout is part of the product: layers import only downward, the paths
sites name in settings keep working, and every module says what it is for."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rupt_guard"

# Lower numbers are lower layers; a module may import its own layer and those below.
LAYERS = {
    "conf": 0,
    "choices": 0,
    "models": 0,
    "signals": 0,
    "cache": 0,
    "client": 0,
    "providers": 1,
    "risk": 2,
    "trust": 3,
    "gate": 4,
}
USER_FACING = 5  # views, api, admin, management, templatetags, testing, apps, checks, ...
LOCAL_PROVIDER = {"rupt_guard.local.provider", "rupt_guard.local.models"}  # a provider plugin


def layer_of(module: str) -> int:
    if module in LOCAL_PROVIDER:
        return LAYERS["providers"]
    parts = module.split(".")
    return LAYERS.get(parts[1], USER_FACING) if len(parts) > 1 else USER_FACING


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        name = ".".join(("rupt_guard", *path.relative_to(PACKAGE).with_suffix("").parts))
        yield name.removesuffix(".__init__"), path


def imported(tree: ast.AST):
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("rupt_guard")
        ):
            if node.module == "rupt_guard":
                yield from (f"rupt_guard.{alias.name}" for alias in node.names)
            else:
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("rupt_guard"))


MODULES = list(modules())


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_no_module_imports_a_layer_above_its_own(module, path):
    own = layer_of(module)
    upward = [name for name in imported(ast.parse(path.read_text())) if layer_of(name) > own]
    assert upward == [], f"{module} (layer {own}) imports {upward}"


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_every_module_says_what_it_is_for(module, path):
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring and len(docstring.splitlines()[0]) > 20, module


def test_the_import_cycle_between_settings_and_providers_is_gone():
    conf = ast.parse((PACKAGE / "conf.py").read_text())
    assert [name for name in imported(conf)] == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("rupt_guard.backends.RuptGuardBackend", "rupt_guard.gate.backend.RuptGuardBackend"),
        ("rupt_guard.backends.gated_sign_in", "rupt_guard.gate.sign_in.gated_sign_in"),
        (
            "rupt_guard.middleware.RuptGuardMiddleware",
            "rupt_guard.gate.middleware.RuptGuardMiddleware",
        ),
        ("rupt_guard.middleware.pending_allowed", "rupt_guard.gate.middleware.pending_allowed"),
        ("rupt_guard.policy.DefaultPolicy", "rupt_guard.risk.policy.DefaultPolicy"),
        ("rupt_guard.policy.Rule", "rupt_guard.risk.policy.Rule"),
        (
            "rupt_guard.api.permissions.IsDeviceVerified",
            "rupt_guard.api.permissions.IsDeviceVerified",
        ),
        ("rupt_guard.providers.rupt.RuptProvider", "rupt_guard.providers.rupt.RuptProvider"),
        ("rupt_guard.local.provider.LocalProvider", "rupt_guard.local.provider.LocalProvider"),
    ],
)
def test_the_paths_sites_name_keep_working(old, new):
    def load(path):
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)

    assert load(old) is load(new)


def test_the_settings_paths_of_a_site_still_load(settings):
    from django.utils.module_loading import import_string

    for path in (*settings.MIDDLEWARE, *settings.AUTHENTICATION_BACKENDS):
        assert import_string(path)


@pytest.mark.parametrize(
    "name",
    [
        "rupt_guard:challenge",
        "rupt_guard:logout",
        "rupt_guard:devices",
        "rupt_guard:step_up",
        "rupt_guard_api:login",
        "rupt_guard_api:challenge-send",
        "rupt_guard_api:challenge-verify",
        "rupt_guard_api:device-list",
    ],
)
def test_url_names_are_stable(name):
    from django.urls import reverse

    assert reverse(name).startswith("/")
