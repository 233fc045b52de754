{#-
  cookiecutter and cruft render this file with Jinja, then run it before writing any file.
  copier.yml imports `reserved_names` from here for its validators, so the list lives in
  this file only. Each key is the reason a name is refused, as the messages print it.
  `needs` is the same for the combination rules: a yes/no question that needs another to
  be yes, and why. copier.yml's validator prints its message from here, tests/matrix.py
  builds the supported combinations from it, and the tests render every rule refused.
-#}
{%- set needs = {
    "include_k8s": ["include_docker", "Kubernetes runs the service's container image"],
} -%}
{%- set reserved_names = {
    "is a Python keyword": [
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from",
        "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass",
        "raise", "return", "try", "while", "with", "yield",
    ],
    "is a Python standard-library module name": [
        "abc", "aifc", "annotationlib", "antigravity", "argparse", "array", "ast", "asynchat",
        "asyncio", "asyncore", "atexit", "audioop", "base64", "bdb", "binascii", "bisect",
        "builtins", "bz2", "cProfile", "calendar", "cgi", "cgitb", "chunk", "cmath", "cmd",
        "code", "codecs", "codeop", "collections", "colorsys", "compileall", "compression",
        "concurrent", "configparser", "contextlib", "contextvars", "copy", "copyreg", "crypt",
        "csv", "ctypes", "curses", "dataclasses", "datetime", "dbm", "decimal", "difflib",
        "dis", "distutils", "doctest", "email", "encodings", "ensurepip", "enum", "errno",
        "faulthandler", "fcntl", "filecmp", "fileinput", "fnmatch", "fractions", "ftplib",
        "functools", "gc", "genericpath", "getopt", "getpass", "gettext", "glob", "graphlib",
        "grp", "gzip", "hashlib", "heapq", "hmac", "html", "http", "idlelib", "imaplib",
        "imghdr", "imp", "importlib", "inspect", "io", "ipaddress", "itertools", "json",
        "keyword", "lib2to3", "linecache", "locale", "logging", "lzma", "mailbox", "mailcap",
        "marshal", "math", "mimetypes", "mmap", "modulefinder", "msilib", "msvcrt",
        "multiprocessing", "netrc", "nis", "nntplib", "nt", "ntpath", "nturl2path", "numbers",
        "opcode", "operator", "optparse", "os", "ossaudiodev", "pathlib", "pdb", "pickle",
        "pickletools", "pipes", "pkgutil", "platform", "plistlib", "poplib", "posix",
        "posixpath", "pprint", "profile", "pstats", "pty", "pwd", "py_compile", "pyclbr",
        "pydoc", "pydoc_data", "pyexpat", "queue", "quopri", "random", "re", "readline",
        "reprlib", "resource", "rlcompleter", "runpy", "sched", "secrets", "select",
        "selectors", "shelve", "shlex", "shutil", "signal", "site", "smtpd", "smtplib",
        "sndhdr", "socket", "socketserver", "spwd", "sqlite3", "sre_compile", "sre_constants",
        "sre_parse", "ssl", "stat", "statistics", "string", "stringprep", "struct",
        "subprocess", "sunau", "symtable", "sys", "sysconfig", "syslog", "tabnanny", "tarfile",
        "telnetlib", "tempfile", "termios", "textwrap", "this", "threading", "time", "timeit",
        "tkinter", "token", "tokenize", "tomllib", "trace", "traceback", "tracemalloc", "tty",
        "turtle", "turtledemo", "types", "typing", "unicodedata", "unittest", "urllib", "uu",
        "uuid", "venv", "warnings", "wave", "weakref", "webbrowser", "winreg", "winsound",
        "wsgiref", "xdrlib", "xml", "xmlrpc", "zipapp", "zipfile", "zipimport", "zlib",
        "zoneinfo",
    ],
    "is a test-suite name": ["test", "tests"],
    "shadows a dependency of the generated project": [
        "airflow", "apache_airflow", "boto3", "dvc", "evidently", "fastapi", "feast", "flake8",
        "httpx", "joblib", "mlflow", "mypy", "numpy", "onnx", "onnxruntime", "pandas",
        "pandas_stubs", "pre_commit", "prometheus_client",
        "protobuf", "pydantic", "pydantic_settings", "pytest", "pytest_xdist", "pyyaml", "ruff",
        "scikit_learn", "scipy", "scipy_stubs", "skl2onnx", "sklearn", "skops", "starlette",
        "types_pyyaml", "uv", "uvicorn", "xdist", "yaml",
    ],
} -%}
"""Refuse answers that would generate a broken project, before any file is written.

cookiecutter and cruft run this hook; copier checks the same rules with the `validator:`
entries of copier.yml. Each problem is one line on stderr that names the field and the rule.
"""
import re
import sys
from typing import Any

RESERVED_NAMES: dict[str, list[str]] = {{ reserved_names | tojson(indent=4) }}
# question -> [the question it needs to be yes too, why]
NEEDS: dict[str, list[str]] = {{ needs | tojson(indent=4) }}
SLUG = re.compile(r"[a-z][a-z0-9]*([-_][a-z0-9]+)*")
PACKAGE = re.compile(r"[a-z][a-z0-9_]*")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def reserved(field: str, value: str, name: str) -> list[str]:
    """Refuse `name`, the Python name `value` becomes, if importing it would fail or clash."""
    spelled = f"'{value}'" if name == value else f"'{value}' (as '{name}')"
    return [
        f"{field}: {spelled} {reason}; choose another"
        for reason, names in RESERVED_NAMES.items()
        if name in names
    ]


def text_problems(field: str, value: str) -> list[str]:
    """Free text lands inside quoted TOML, YAML and Python strings: keep it one plain line."""
    if "\n" in value or "\r" in value:
        return [f"{field}: must be a single line"]
    if '"' in value or "\\" in value:
        return [f"{field}: must not contain double quotes or backslashes"]
    return []


def needs_message(question: str, needed: str, why: str) -> str:
    return f"{question}: {why}, so it needs {needed}"


def problems(answers: dict[str, Any]) -> list[str]:
    """Every rule the answers break, in question order."""
    found = []
    if not answers["project_name"].strip():
        found.append("project_name: must not be empty")
    found += text_problems("project_name", answers["project_name"])

    slug = answers["project_slug"]
    if SLUG.fullmatch(slug):
        found += reserved("project_slug", slug, slug.replace("-", "_"))
    else:
        found.append(
            f"project_slug: '{slug}' must be lowercase letters and digits separated by"
            " single hyphens or underscores, starting with a letter"
        )

    package = answers["package_name"]
    if PACKAGE.fullmatch(package):
        found += reserved("package_name", package, package)
    else:
        found.append(
            f"package_name: '{package}' must be lowercase letters, digits and underscores,"
            " starting with a letter"
        )

    found += text_problems("description", answers["description"])
    found += text_problems("author_name", answers["author_name"])
    email = answers["author_email"]
    if not EMAIL.fullmatch(email):
        found.append(f"author_email: '{email}' does not look like an email address")
    found += [
        needs_message(question, needed, why)
        for question, (needed, why) in NEEDS.items()
        if answers[question] and not answers[needed]
    ]
    return found


def main(answers: dict[str, Any]) -> int:
    """Print one line per problem; a non-zero exit makes cookiecutter stop and clean up."""
    found = problems(answers)
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0
{#- copier imports `reserved_names` without a `cookiecutter` variable: no call then. #}
{%- if cookiecutter is defined %}


sys.exit(main({
    "project_name": {{ cookiecutter.project_name | tojson }},
    "project_slug": {{ cookiecutter.project_slug | tojson }},
    "package_name": {{ cookiecutter.package_name | tojson }},
    "description": {{ cookiecutter.description | tojson }},
    "author_name": {{ cookiecutter.author_name | tojson }},
    "author_email": {{ cookiecutter.author_email | tojson }},
    "include_docker": {{ cookiecutter.include_docker }},
    "include_k8s": {{ cookiecutter.include_k8s }},
}))
{%- endif %}
