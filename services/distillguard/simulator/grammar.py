"""Template grammars: compile prompt templates once, then sample thousands of prompts per call.

A template is text with two kinds of fields:

- ``{name}``: a value drawn from the grammar's slot pool ``name``;
- ``{a|b|c}``: an inline alternation, one of the listed phrasings (an empty option is allowed).

``{{`` and ``}}`` are literal braces. Slot values are used verbatim (they are never parsed), so code
snippets with braces belong in slot pools. Sampling draws every index from the caller's numpy
Generator, so a grammar adds no randomness of its own and the same Generator state gives the same
prompts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


class GrammarError(ValueError):
    """A template refers to an unknown slot or has an unbalanced brace."""


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """A str.format pattern whose positional fields are filled from `pools` in order."""

    pattern: str
    pools: tuple[tuple[str, ...], ...]


def compile_template(template: str, slots: Mapping[str, Sequence[str]]) -> CompiledTemplate:
    """Turn a template into a positional format pattern and the pool behind each field."""
    pattern: list[str] = []
    pools: list[tuple[str, ...]] = []
    position = 0
    for match in _FIELD.finditer(template):
        text = template[position:match.start()]
        if "{" in text or "}" in text:
            raise GrammarError(f"unbalanced brace in template {template[:60]!r}")
        pattern.append(text)
        position = match.end()
        token = match.group(0)
        if token == "{{":
            pattern.append("{{")
            continue
        if token == "}}":
            pattern.append("}}")
            continue
        body = match.group(1)
        if "|" in body:
            pool = tuple(body.split("|"))
        else:
            if body not in slots:
                raise GrammarError(f"template {template[:60]!r} uses unknown slot {body!r}")
            pool = tuple(slots[body])
            if not pool:
                raise GrammarError(f"slot {body!r} is empty")
        pattern.append("{%d}" % len(pools))
        pools.append(pool)
    tail = template[position:]
    if "{" in tail or "}" in tail:
        raise GrammarError(f"unbalanced brace in template {template[:60]!r}")
    pattern.append(tail)
    return CompiledTemplate("".join(pattern), tuple(pools))


class Grammar:
    """A weighted set of compiled templates sharing one slot namespace."""

    def __init__(
        self,
        templates: Sequence[str],
        slots: Mapping[str, Sequence[str]] | None = None,
        weights: Sequence[float] | None = None,
    ) -> None:
        if not templates:
            raise GrammarError("a grammar needs at least one template")
        slots = slots or {}
        self.templates: tuple[CompiledTemplate, ...] = tuple(compile_template(t, slots) for t in templates)
        raw = np.ones(len(templates)) if weights is None else np.asarray(weights, dtype=np.float64)
        if raw.shape != (len(templates),) or (raw < 0).any() or raw.sum() <= 0:
            raise GrammarError("weights must be one non-negative number per template, not all zero")
        self._cumulative = np.cumsum(raw / raw.sum())

    def sample(self, rng: np.random.Generator, n: int) -> list[str]:
        """n prompts, each from a template chosen by weight with every field drawn uniformly."""
        if n <= 0:
            return []
        if len(self.templates) == 1:
            return self._fill(self.templates[0], rng, n)
        choice = np.minimum(np.searchsorted(self._cumulative, rng.random(n), side="right"), len(self.templates) - 1)
        out: list[str] = [""] * n
        for index in np.unique(choice).tolist():
            where = np.flatnonzero(choice == index).tolist()
            for position, text in zip(where, self._fill(self.templates[index], rng, len(where))):
                out[position] = text
        return out

    @staticmethod
    def _fill(template: CompiledTemplate, rng: np.random.Generator, n: int) -> list[str]:
        if not template.pools:
            return [template.pattern.format()] * n
        columns = [
            [pool[i] for i in rng.integers(0, len(pool), n).tolist()] if len(pool) > 1 else [pool[0]] * n
            for pool in template.pools
        ]
        pattern = template.pattern
        return [pattern.format(*values) for values in zip(*columns)]

    @property
    def variety(self) -> int:
        """How many distinct fillings the grammar can produce (an upper bound, for docs and tests)."""
        total = 0
        for template in self.templates:
            count = 1
            for pool in template.pools:
                count *= len(pool)
            total += count
        return total
