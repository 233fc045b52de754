"""{{ cookiecutter.project_name }}: data, training, evaluation and promotion steps."""

__version__ = "0.1.0"
