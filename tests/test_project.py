"""Project rules that keep the code base navigable: layering, lint, set-up commands."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The layering of the packages (README, "Architecture"): which top-level packages each may import.
ALLOWED = {
    "data": set(),
    "features": {"data"},
    "models": {"features", "data"},
    "forecasting": {"data", "features", "models"},
    "experiments": {"data", "features", "models", "forecasting"},
    "serving": {"data", "features", "models", "forecasting", "experiments"},
}


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _imported_packages(path: Path) -> set[str]:
    return _top_level_imports(path) & set(ALLOWED)


def _distribution(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _extras(requirement: str) -> set[str]:
    """The extras a requirement asks for: ``{"distributed"}`` of ``dask[distributed]>=2024``."""
    named = re.match(r"[^\[<>=!~;\s]+\s*\[([^\]]*)\]", requirement)
    return {e.strip().lower() for e in named.group(1).split(",")} if named else set()


def _installed_closure(requirements: list[str]) -> set[str]:
    """Distributions ``requirements`` install, with everything they require: the extras a
    requirement names, no others."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(_distribution(r), frozenset(_extras(r))) for r in requirements]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", requirement)
            if extra is None or extra.group(1).lower() in extras:
                todo.append((_distribution(requirement), frozenset(_extras(requirement))))
    return {name for name, _ in seen}


@pytest.mark.parametrize("package", list(ALLOWED))
def test_imports_point_down_the_layer_table(package: str) -> None:
    offenders = {}
    for path in (ROOT / package).rglob("*.py"):
        wrong = _imported_packages(path) - ALLOWED[package] - {package}
        if wrong:
            offenders[str(path.relative_to(ROOT))] = sorted(wrong)
    assert not offenders, f"imports against the layering of the packages: {offenders}"


def test_the_product_imports_only_what_the_first_command_installs() -> None:
    """The first README command installs the core dependencies only (no ``[test]`` extra): a
    library the product imports that only the test extra brings would pass every test and
    fail on a planner's machine."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = _installed_closure(project["dependencies"])
    providers = importlib.metadata.packages_distributions()
    missing = {}
    for package in ALLOWED:
        for path in (ROOT / package).rglob("*.py"):
            for name in _top_level_imports(path) - set(ALLOWED) - set(sys.stdlib_module_names):
                dists = {d.lower().replace("_", "-") for d in providers.get(name, [])}
                if not dists & core:
                    missing.setdefault(name, str(path.relative_to(ROOT)))
    assert not missing, f"imported but not a core dependency (module: first file): {missing}"


def test_importing_every_module_does_no_work(tmp_path: Path) -> None:
    """No settings, engines, files or logging configured on import."""
    script = """
import importlib, logging, pkgutil, sys
for package in ("data", "features", "models", "forecasting", "experiments", "serving"):
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if ".migrations" in info.name:
            continue
        importlib.import_module(info.name)
assert not logging.getLogger().handlers, logging.getLogger().handlers
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == [], "importing modules created files"


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--quiet", str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [line for line in readme.splitlines() if line.startswith("python3.11 -m venv")]
    assert len(commands) >= 2
    main_job, tests = commands[0], commands[1]
    assert main_job.endswith("talentcast demo")
    assert tests.endswith("pytest")
    assert readme.index(main_job) < readme.index("## ")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci.splitlines(), ".ci/run must run the README's second command unchanged"


@pytest.mark.slow
def test_mypy_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
