"""Template grammars: compile prompt templates once, then sample thousands of prompts per call.

A template is text with two kinds of fields:

- ``{name}``: a value drawn from the grammar's slot pool ``name``;
- ``{a|b|c}``: an inline alternation, one of the listed phrasings (an empty option is allowed).

``{{`` and ``}}`` are literal braces. Slot values are used verbatim (they are never parsed), so code
snippets with braces belong in slot pools. Sampling draws every index from the caller's numpy
Generator, so a grammar adds no randomness of its own and the same Generator state gives the same
prompts.

Each grammar is compiled twice: to text (`sample`) and to JSON-escaped UTF-8 (`sample_json`,
escaped once at compile time, so generated prompts go into JSON lines without per-prompt work).
Both are printf-style patterns filled from object arrays, the fastest way CPython formats strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import orjson

_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
Text = TypeVar("Text", str, bytes)


class GrammarError(ValueError):
    """A template refers to an unknown slot or has an unbalanced brace."""


@dataclass(frozen=True, slots=True)
class ParsedTemplate:
    """Literal text around the fields (one more literal than fields) and each field's pool."""

    literals: tuple[str, ...]
    pools: tuple[tuple[str, ...], ...]

    @property
    def max_length(self) -> int:
        return sum(map(len, self.literals)) + sum(max(map(len, pool)) for pool in self.pools)


@dataclass(frozen=True, slots=True)
class CompiledTemplate(Generic[Text]):
    """A printf-style pattern (every field is %s) and an object array per field."""

    pattern: Text
    pools: tuple[np.ndarray, ...]


def parse_template(template: str, slots: Mapping[str, Sequence[str]]) -> ParsedTemplate:
    """Split a template into literal text and the pool behind each field."""
    literals: list[str] = []
    pools: list[tuple[str, ...]] = []
    current: list[str] = []
    position = 0
    for match in _FIELD.finditer(template):
        text = template[position:match.start()]
        if "{" in text or "}" in text:
            raise GrammarError(f"unbalanced brace in template {template[:60]!r}")
        current.append(text)
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            current.append(token[0])
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
        literals.append("".join(current))
        current = []
        pools.append(pool)
    tail = template[position:]
    if "{" in tail or "}" in tail:
        raise GrammarError(f"unbalanced brace in template {template[:60]!r}")
    literals.append("".join(current) + tail)
    return ParsedTemplate(tuple(literals), tuple(pools))


def json_string_body(text: str) -> str:
    """`text` escaped for the inside of a JSON string (without the surrounding quotes)."""
    return orjson.dumps(text).decode()[1:-1]


def _as_text(parsed: ParsedTemplate) -> CompiledTemplate[str]:
    return CompiledTemplate(
        "%s".join(literal.replace("%", "%%") for literal in parsed.literals),
        tuple(np.array(pool, dtype=object) for pool in parsed.pools),
    )


def _as_json(parsed: ParsedTemplate) -> CompiledTemplate[bytes]:
    def encode(text: str) -> bytes:
        return json_string_body(text).encode()

    return CompiledTemplate(
        b"%s".join(encode(literal).replace(b"%", b"%%") for literal in parsed.literals),
        tuple(np.array([encode(value) for value in pool], dtype=object) for pool in parsed.pools),
    )


class Grammar:
    """A weighted set of templates sharing one slot namespace."""

    def __init__(
        self,
        templates: Sequence[str],
        slots: Mapping[str, Sequence[str]] | None = None,
        weights: Sequence[float] | None = None,
    ) -> None:
        if not templates:
            raise GrammarError("a grammar needs at least one template")
        self.parsed = tuple(parse_template(t, slots or {}) for t in templates)
        raw = np.ones(len(templates)) if weights is None else np.asarray(weights, dtype=np.float64)
        if raw.shape != (len(templates),) or (raw < 0).any() or raw.sum() <= 0:
            raise GrammarError("weights must be one non-negative number per template, not all zero")
        self._weights = raw / raw.sum()
        self._text = tuple(map(_as_text, self.parsed))
        self._json = tuple(map(_as_json, self.parsed))

    def sample(self, rng: np.random.Generator, n: int) -> list[str]:
        """n prompts, each from a template chosen by weight with every field drawn uniformly."""
        return self.sample_indexed(rng, n)[0]

    def sample_indexed(self, rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
        """Like `sample`, also returning the index of the template behind each prompt."""
        return self._sample(self._text, rng, n)

    def sample_json(self, rng: np.random.Generator, n: int) -> tuple[list[bytes], np.ndarray]:
        """Like `sample_indexed`, as JSON-escaped UTF-8 string bodies."""
        return self._sample(self._json, rng, n)

    def _sample(
        self, templates: tuple[CompiledTemplate[Text], ...], rng: np.random.Generator, n: int
    ) -> tuple[list[Text], np.ndarray]:
        if n <= 0:
            return [], np.zeros(0, np.int64)
        counts = rng.multinomial(n, self._weights)
        texts: list[Text] = []
        for template, count in zip(templates, counts.tolist()):
            if count:
                texts += _fill(template, rng, count)
        which = np.repeat(np.arange(len(templates)), counts)
        if len(templates) == 1:
            return texts, which
        # Templates were filled in blocks; shuffle so the order carries no information.
        order = rng.permutation(n)
        return [texts[i] for i in order.tolist()], which[order]

    @property
    def max_length(self) -> int:
        """The longest prompt the grammar can produce, in characters (before any escaping)."""
        return max(template.max_length for template in self.parsed)

    @property
    def variety(self) -> int:
        """How many distinct fillings the grammar can produce (an upper bound, for docs and tests)."""
        total = 0
        for template in self.parsed:
            count = 1
            for pool in template.pools:
                count *= len(pool)
            total += count
        return total


def _fill(template: CompiledTemplate[Text], rng: np.random.Generator, n: int) -> list[Text]:
    pattern = template.pattern
    if not template.pools:
        return [pattern % ()] * n
    columns = [pool[rng.integers(0, len(pool), n)].tolist() for pool in template.pools]
    return [pattern % row for row in zip(*columns)]


class PromptStream:
    """JSON-escaped UTF-8 prompts from one grammar, generated in batches from the stream's own
    Generator.

    Callers take a few prompts per population and hour; sampling them in batches keeps the numpy
    overhead per template and slot away from the per-request path. Batches double from MIN_BATCH to
    MAX_BATCH as the stream is used, so rarely used streams stay small.
    """

    MIN_BATCH = 256
    MAX_BATCH = 2048

    def __init__(self, grammar: Grammar, rng: np.random.Generator) -> None:
        self.grammar = grammar
        self._rng = rng
        self._texts: list[bytes] = []
        self._templates = np.zeros(0, np.int64)
        self._at = 0
        self._batch = self.MIN_BATCH

    def take(self, n: int) -> tuple[list[bytes], np.ndarray]:
        """The next n prompts and the template index of each."""
        texts: list[bytes] = []
        templates: list[np.ndarray] = []
        while n > 0:
            if self._at >= len(self._texts):
                # Batch sizes follow a fixed schedule, so the sequence depends only on the seed.
                self._texts, self._templates = self.grammar.sample_json(self._rng, self._batch)
                self._at = 0
                self._batch = min(2 * self._batch, self.MAX_BATCH)
            k = min(n, len(self._texts) - self._at)
            texts += self._texts[self._at:self._at + k]
            templates.append(self._templates[self._at:self._at + k])
            self._at += k
            n -= k
        return texts, np.concatenate(templates) if templates else np.zeros(0, np.int64)

