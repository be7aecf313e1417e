"""`purerl.plugins`: env modules imported by dotted name or file path, and entry points."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap

import pytest

from purerl import plugins
from purerl.envs import make, registry

MODULE = textwrap.dedent(
    """
    from purerl.envs import register
    from purerl.envs.probes import make_two_step


    def make_plugin_env():
        return make_two_step()


    register("{name}", make_plugin_env)
    """
)


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    """Writes `purerl_test_plugin_*.py` registering an env; yields `(path, module name, env name)`."""
    created = []

    def write(stem: str, env_name: str, body: str | None = None):
        path = tmp_path / f"{stem}.py"
        path.write_text(body if body is not None else MODULE.format(name=env_name))
        created.append((stem, env_name))
        return path

    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for stem, env_name in created:
        sys.modules.pop(stem, None)
        registry._REGISTRY.pop(env_name, None)


def test_import_by_path_registers_and_reimport_is_fine(plugin_module):
    path = plugin_module("purerl_test_plugin_path", "PluginPath-v0")
    plugins.import_env_modules([str(path)])
    assert make("PluginPath-v0")[0].spec.max_episode_steps == 2
    plugins.import_env_modules([str(path)])  # a second import re-registers the same factory


def test_import_by_dotted_name(plugin_module):
    plugin_module("purerl_test_plugin_dotted", "PluginDotted-v0")
    plugins.import_env_modules(["purerl_test_plugin_dotted"])
    assert "PluginDotted-v0" in registry.registered()


def test_missing_module_names_it():
    with pytest.raises(ValueError, match=r"'no_such_purerl_plugin'.*ModuleNotFoundError"):
        plugins.import_env_modules(["no_such_purerl_plugin"])


def test_missing_file_names_it(tmp_path):
    with pytest.raises(ValueError, match=r"missing\.py.*no such file"):
        plugins.import_env_modules([str(tmp_path / "missing.py")])


def test_module_that_raises_gives_its_one_line_error(plugin_module):
    path = plugin_module(
        "purerl_test_plugin_broken", "unused", "x = 1\nraise RuntimeError('bad env\\nmore')\n"
    )
    with pytest.raises(ValueError) as info:
        plugins.import_env_modules([str(path)])
    message = str(info.value)
    assert "purerl_test_plugin_broken.py" in message and message.endswith("RuntimeError: bad env")
    assert "purerl_test_plugin_broken" not in sys.modules


def test_load_entry_points(plugin_module, monkeypatch):
    plugin_module("purerl_test_plugin_entry", "PluginEntry-v0")
    points = importlib.metadata.EntryPoints(
        [importlib.metadata.EntryPoint("mine", "purerl_test_plugin_entry", plugins.ENTRY_POINT_GROUP)]
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: points.select(group=group))
    assert plugins.load_entry_points() == ["mine"]
    assert "PluginEntry-v0" in registry.registered()


def test_broken_entry_point_names_it(monkeypatch):
    points = importlib.metadata.EntryPoints(
        [importlib.metadata.EntryPoint("bad", "no_such_purerl_plugin", plugins.ENTRY_POINT_GROUP)]
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: points.select(group=group))
    with pytest.raises(ValueError, match="entry point 'bad' \\(no_such_purerl_plugin\\)"):
        plugins.load_entry_points()


def test_no_entry_points_installed():
    assert plugins.load_entry_points("purerl.test-group-nobody-uses") == []
