"""Print the third-party requirements of the given pyproject.toml files, one a line.

The images install these first, from the pyproject files alone, so that a code change rebuilds only
the small layer that installs the taxifare packages themselves. Our own packages (`taxifare-*`) are
left out: they are installed from source afterwards.

Usage: python pyproject_deps.py libs/core/pyproject.toml services/<name>/pyproject.toml > requirements.txt
"""

import re
import sys
import tomllib

OWN_PACKAGE = re.compile(r"^taxifare[-_]", re.IGNORECASE)


def third_party_requirements(paths: list[str]) -> list[str]:
    requirements: list[str] = []
    for path in paths:
        with open(path, "rb") as f:
            project = tomllib.load(f).get("project", {})
        for requirement in project.get("dependencies", []):
            if not OWN_PACKAGE.match(requirement) and requirement not in requirements:
                requirements.append(requirement)
    return requirements


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python pyproject_deps.py PYPROJECT_TOML...")
    print("\n".join(third_party_requirements(sys.argv[1:])))
