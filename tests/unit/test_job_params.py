"""Declared job params: what each kind accepts and refuses, and the message a door shows."""

from __future__ import annotations

import pytest

from orchestrator.params import Param, ParamKind, check

SECONDS = Param(name="seconds", kind=ParamKind.NUMBER, minimum=0, default=1, description="how long to sleep")
TIMES = Param(name="times", kind=ParamKind.INTEGER, minimum=0, maximum=5, description="attempts to fail")
PATH = Param(name="path", kind=ParamKind.TEXT, required=True, max_length=10, description="a file")
FLAG = Param(name="flag", kind=ParamKind.BOOLEAN, description="on or off")
DECLARED = [SECONDS, TIMES, PATH, FLAG]


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"path": "a.log"}, {}),
        ({"path": "a.log", "seconds": 0.5, "times": 5, "flag": False}, {}),
        ({"path": "a.log", "secs": 3}, {"params.secs": ["is not a param of the sleep job; its params: seconds, "
                                                        "times, path, flag"]}),
        ({"path": "a.log", "seconds": "ten"}, {"params.seconds": ["must be a number, not 'ten'"]}),
        ({"path": "a.log", "seconds": True}, {"params.seconds": ["must be a number, not True"]}),
        ({"path": "a.log", "seconds": -1}, {"params.seconds": ["must be at least 0, not -1"]}),
        ({"path": "a.log", "times": 1.5}, {"params.times": ["must be a whole number, not 1.5"]}),
        ({"path": "a.log", "times": 6}, {"params.times": ["must be at most 5, not 6"]}),
        ({}, {"params.path": ["is required: a file"]}),
        ({"path": " "}, {"params.path": ["must not be empty"]}),
        ({"path": "x" * 11}, {"params.path": ["must be at most 10 characters long"]}),
        ({"path": "a.log", "flag": "yes"}, {"params.flag": ["must be true or false, not 'yes'"]}),
    ],
)  # fmt: skip
def test_declared_params_are_checked_by_kind_and_bounds(params, errors):
    assert check("sleep", DECLARED, params) == errors


def test_a_job_with_no_params_refuses_every_key():
    assert check("noop", [], {"x": 1}) == {"params.x": ["is not a param of the noop job; its params: none"]}


def test_the_summary_says_what_a_form_shows():
    assert SECONDS.summary() == "seconds (a number, at least 0, default 1): how long to sleep"
    assert PATH.summary() == "path (text, required): a file"


def test_every_built_in_job_declares_its_params():
    from orchestrator import registry

    built_in = {"noop", "sleep", "fail", "log_triage", "report", "dag"}
    assert built_in <= set(registry.keys())
    undeclared = [key for key in sorted(built_in) if registry.get(key).params is None]
    assert undeclared == []
