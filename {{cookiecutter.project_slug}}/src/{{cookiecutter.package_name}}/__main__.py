"""Allow ``python -m {{ cookiecutter.package_name }}``, same as the ``{{ cookiecutter.project_slug }}`` command."""

from .cli import main

raise SystemExit(main())
