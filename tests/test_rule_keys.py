"""Every kind of built-in site knowledge earns its place: taking one list out of the
built-in rules breaks at least one case, so no rule is kept alive only because another
rule happens to catch the same junk (today's cases are the proof that it is needed)."""

from __future__ import annotations

import pytest
from conftest import load_cases
from test_cases import check_case

from feedclean.rules import BUILTIN, RuleSet
from feedclean.rulesfile import Rule

CASE_FILES = ("junk.yaml", "feedjunk.yaml", "content.yaml", "metadata.yaml")
# The lists and tables the built-in rules fill; each must have a case that only it decides.
KEYS = sorted({key for rule in BUILTIN.rules for key in rule.values if key not in ("name", "timezone")})


def _without(key: str) -> RuleSet:
    return RuleSet([Rule(rule.origin, rule.hosts, {k: v for k, v in rule.values.items() if k != key}) for rule in BUILTIN.rules])


def _cases() -> list[dict]:
    return [case for name in CASE_FILES for case in load_cases(name)]


@pytest.mark.parametrize("key", KEYS)
def test_each_kind_of_rule_decides_some_case(key: str) -> None:
    rules = _without(key)
    for case in _cases():
        try:
            check_case(case, case["expect"], rules)
        except (AssertionError, pytest.fail.Exception):
            return
    pytest.fail(f"no case needs the built-in {key!r}: every case passes without it")
