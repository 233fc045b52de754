"""The option matrix: every choice question, the rule that forbids some combinations, and a
pairwise covering set of answers.

The full product of the choices has thousands of members (2 problem types x 3 models x
2 linters x 2 installers x 3 Python versions x 4 licenses x 24 component sets x 2 feature
stores x 2 drift reports), too many to render on every test run. The fast tier renders a
*pairwise* covering set instead: for any two questions, every pair of their values that
some supported combination allows appears in at least one rendered row. Template bugs
almost always need at most two answers to show (a conditional on one answer inside a
conditional on another).
"""

from __future__ import annotations

import functools
import itertools
import json
import random
from collections.abc import Iterator
from typing import Any

from bake import TEMPLATE_DIR, combination_rules

Row = dict[str, Any]
Pair = tuple[tuple[str, Any], tuple[str, Any]]


@functools.cache
def choice_questions() -> dict[str, list[Any]]:
    """Each question with a fixed set of answers, in questionnaire order: lists and yes/no."""
    questions = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    return {
        name: ([True, False] if isinstance(value, bool) else value)
        for name, value in questions.items()
        if not name.startswith("_") and isinstance(value, (bool, list))
    }


def supported(row: Row) -> bool:
    """No combination rule broken (``needs`` in hooks/pre_gen_project.py: Kubernetes needs
    Docker, ...). A partial row (some questions not chosen yet) is supported while no
    rule is broken."""
    return not any(
        row.get(question) is True and row.get(needed) is False
        for question, (needed, _) in combination_rules().items()
    )


def pairs(row: Row) -> set[Pair]:
    items = sorted(row.items())
    return {(first, second) for first, second in itertools.combinations(items, 2)}


def full_product(questions: dict[str, list[Any]]) -> Iterator[Row]:
    for values in itertools.product(*questions.values()):
        row = dict(zip(questions, values))
        if supported(row):
            yield row


@functools.cache
def required_pairs() -> frozenset[Pair]:
    """Every pair of answers that at least one supported combination contains."""
    required: set[Pair] = set()
    for row in full_product(choice_questions()):
        required |= pairs(row)
    return frozenset(required)


def greedy_rows(order: list[str]) -> list[Row]:
    """Rows covering every required pair, filling the questions in `order`.

    Each new row starts from the first uncovered pair, then takes, question by question,
    the supported answer that covers the most pairs still uncovered.
    """
    questions = choice_questions()
    uncovered = set(required_pairs())
    rows: list[Row] = []
    while uncovered:
        (first, first_value), (second, second_value) = min(uncovered, key=repr)
        row: Row = {first: first_value, second: second_value}
        for name in order:
            if name in row:
                continue
            candidates = [value for value in questions[name] if supported({**row, name: value})]
            row[name] = max(
                candidates,
                key=lambda value: len(pairs({**row, name: value}) & uncovered),
            )
        row = {name: row[name] for name in questions}
        assert supported(row), row
        uncovered -= pairs(row)
        rows.append(row)
    return rows


@functools.cache
def pairwise_rows(tries: int = 30) -> list[Row]:
    """The smallest greedy covering set over a few fixed question orders (deterministic),
    with the defaults as its first row."""
    order = list(choice_questions())
    orders = [order] + [random.Random(seed).sample(order, len(order)) for seed in range(tries)]
    best = min((greedy_rows(candidate) for candidate in orders), key=len)
    defaults = {name: choices[0] for name, choices in choice_questions().items()}
    return [defaults, *(row for row in best if row != defaults)]
