"""Remove the files of the components the answers turned off.

cookiecutter and cruft run this hook in the generated project. copier skips the same paths
with the `_exclude` entries of copier.yml; tests/test_components.py checks, for every
combination of answers, that those entries skip exactly what `PATHS` here removes. References to a
component inside other files (README, Makefile, workflows) are Jinja conditionals there.
A component folder cannot simply get an empty rendered name: cookiecutter refuses that.
"""
import shutil
import sys
from pathlib import Path
from typing import Any


# What each component owns: removed here when its answer turns it off. copier.yml's
# `_exclude` skips the same paths (tests/test_components.py renders both for every
# combination of answers and fails when they differ); the tests read the lists from here.
PATHS = {
    "docker": ("Dockerfile", ".dockerignore", "deploy", "monitoring"),
    "k8s": ("k8s",),
    "terraform": ("terraform",),
    "airflow": ("airflow",),
    "feature_store": ("feature_repo",),  # Feast's repository; its modules are named by answer
    "github_ci": (".github",),
    "release_workflow": (".github/workflows/cd.yml",),  # the image's: goes with docker
}


def remove(root: Path, *relpaths: str) -> None:
    """Delete files and folders the template rendered; a missing one is a template bug."""
    for relpath in relpaths:
        path = root / relpath
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def remove_docker(root: Path) -> None:
    """The image and what runs it: compose stack, its monitoring config, the CD workflow."""
    remove(root, *PATHS["docker"])
    if (root / ".github").is_dir():
        remove(root, *PATHS["release_workflow"])


def remove_k8s(root: Path) -> None:
    remove(root, *PATHS["k8s"])


def remove_terraform(root: Path) -> None:
    remove(root, *PATHS["terraform"])


def remove_airflow(root: Path) -> None:
    remove(root, *PATHS["airflow"])


def remove_feature_store(root: Path) -> None:
    remove(root, *PATHS["feature_store"])


def remove_github_ci(root: Path) -> None:
    remove(root, *PATHS["github_ci"])


def main(root: Path, answers: dict[str, Any]) -> int:
    """Apply the answers; the order lets a later step remove a folder an earlier one emptied."""
    if not answers["include_docker"]:
        remove_docker(root)
    if not answers["include_k8s"]:
        remove_k8s(root)
    if not answers["include_terraform"]:
        remove_terraform(root)
    if not answers["include_airflow"]:
        remove_airflow(root)
    if answers["feature_store"] != "feast":
        remove_feature_store(root)
    if answers["ci"] != "github":
        remove_github_ci(root)
    return 0
{#- Unit tests render this file without a `cookiecutter` variable and import the functions. #}
{%- if cookiecutter is defined %}


sys.exit(main(Path.cwd(), {
    "include_docker": {{ cookiecutter.include_docker }},
    "include_k8s": {{ cookiecutter.include_k8s }},
    "include_terraform": {{ cookiecutter.include_terraform }},
    "include_airflow": {{ cookiecutter.include_airflow }},
    "feature_store": {{ cookiecutter.feature_store | tojson }},
    "ci": {{ cookiecutter.ci | tojson }},
}))
{%- endif %}
