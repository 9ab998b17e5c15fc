"""The order of a DAG's steps (pure): a cycle spelled out as a path, and an order that runs each
step after everything it needs (``orchestrator.dag`` parses the files; this is only the graph)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar


class _Needing(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def needs(self) -> tuple[str, ...]: ...


_StepT = TypeVar("_StepT", bound=_Needing)


def find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle in ``step -> needs`` as a closed path (``[a, b, a]``: a needs b, b needs a), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for need in edges.get(node, ()):
            if need not in edges:
                continue
            if state.get(need) == 1:
                return [*path[path.index(need) :], need]
            if state.get(need) is None:
                found = visit(need)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in edges:
        if state.get(node) is None:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def topological_order(steps: Sequence[_StepT]) -> list[_StepT]:
    """Steps in an order where each comes after everything it needs; file order breaks ties."""
    remaining = {step.id: set(step.needs) for step in steps}
    done: set[str] = set()
    ordered: list[_StepT] = []
    while len(ordered) < len(steps):
        ready = [step for step in steps if step.id not in done and remaining[step.id] <= done]
        if not ready:
            raise ValueError("the steps have a cycle")
        for step in ready:
            ordered.append(step)
            done.add(step.id)
    return ordered
