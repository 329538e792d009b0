import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker" / "pyproject_deps.py"


def write_pyproject(path: Path, dependencies: list[str]) -> Path:
    deps = ", ".join(f'"{d}"' for d in dependencies)
    path.write_text(f'[project]\nname = "x"\ndependencies = [{deps}]\n')
    return path


def run(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, paths)], check=False, capture_output=True, text=True
    )


def test_third_party_requirements_without_our_own_packages(tmp_path):
    core = write_pyproject(tmp_path / "core.toml", ["sqlalchemy>=2.0", "pandas>=2.2"])
    service = write_pyproject(
        tmp_path / "svc.toml", ["taxifare-core", "Taxifare_Other>=1", "pandas>=2.2", "flask"]
    )
    result = run(core, service)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["sqlalchemy>=2.0", "pandas>=2.2", "flask"]


def test_a_package_without_dependencies_gives_nothing(tmp_path):
    (tmp_path / "p.toml").write_text('[project]\nname = "x"\n')
    result = run(tmp_path / "p.toml")
    assert result.returncode == 0 and result.stdout.strip() == ""


def test_the_services_pyprojects_parse():
    pyprojects = sorted((ROOT / "services").glob("*/pyproject.toml"))
    result = run(ROOT / "libs" / "core" / "pyproject.toml", *pyprojects)
    assert result.returncode == 0, result.stderr
    assert "sqlalchemy>=2.0" in result.stdout.split()
    assert not [line for line in result.stdout.split() if line.lower().startswith("taxifare")]


def test_usage_error_without_arguments():
    result = run()
    assert result.returncode != 0 and "usage" in result.stderr
