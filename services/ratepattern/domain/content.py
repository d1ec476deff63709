"""Content analysis of sampled prompts: elicitation markers, task areas and near-duplicate templates.

Templates are found with datasketch (MinHash over word 3-shingles, MinHashLSH for candidates);
the only hash functions are datasketch's permutation family over zlib.crc32 of each shingle,
applied to all the shingles of a batch in one numpy pass (`minhash_rows`, bit-identical to
MinHash.update_batch one prompt at a time). The template index is bounded: at most
`max_templates` templates (least recently matched evicted first, in stream order, so replays
evict the same ones) with at most `max_template_members` member accounts each; an exact-prompt
cache of `prompt_cache_size` entries skips the hashing for repeated identical prompts.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import string
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
from datasketch import LeanMinHash, MinHash, MinHashLSH
from datasketch.minhash import _max_hash, _mersenne_prime

from ratepattern.domain.config import RatePatternConfig

# Marker bits.
COT: Final = 1
RUBRIC: Final = 2
SENSITIVE_REWRITE: Final = 4

# Cues are lowercase words, word pairs or word triples (punctuation removed), matched against the
# sets of those in a prompt's first `max_shingle_words` words.
_COT_CUES: Final = frozenset((
    "step by step", "chain of thought", "think step by", "reasoning trace", "internal reasoning",
    "thought process", "reasoning process", "think it through", "reason carefully", "show your work",
    "your reasoning", "your thinking", "your thoughts", "your rationale", "full reasoning", "complete reasoning",
    "detailed reasoning", "reasoning in detail", "each step", "every step", "intermediate steps", "all steps",
    "think aloud", "think out loud", "walk me through", "scratchpad", "derivation",
))
_RUBRIC_CUES: Final = frozenset((
    "rubric", "grader", "reward model", "grade the", "grade this", "grade each", "score the response",
    "score this response", "score the answer", "score each response", "on a scale", "rate the response",
    "rate this response", "as a judge", "which response is", "assign a score", "preference between",
))
_REWRITE_CUES: Final = frozenset(("rewrite", "rephrase", "paraphrase", "reword"))
_SENSITIVE_CUES: Final = frozenset((
    "tiananmen", "xinjiang", "tibet", "uyghur", "uyghurs", "falun", "dissident", "dissidents", "censorship",
    "censored", "regime", "politically sensitive", "taiwan independence", "hong kong protests", "state media",
    "sensitive political",
))
# Capability areas a distillation sweep walks through; bit i of an area mask is AREAS[i].
_AREA_CUES: Final[dict[str, frozenset[str]]] = {
    "coding": frozenset(("python", "javascript", "typescript", "golang", "java", "c++", "code", "function",
                         "refactor", "debug", "compile", "stack trace", "unit tests", "unit test", "algorithm",
                         "regex", "bug")),
    "tool_use": frozenset(("tool", "tools", "function call", "json schema", "api call", "invoke", "tool call")),
    "agentic": frozenset(("agent", "agentic", "multi step", "subtask", "subtasks", "plan the steps", "execute",
                          "terminal", "shell command", "browser")),
    "math": frozenset(("prove", "proof", "equation", "integral", "derivative", "theorem", "solve for",
                       "probability", "matrix", "arithmetic")),
    "logic": frozenset(("puzzle", "logic", "deduce", "riddle", "syllogism")),
    "writing": frozenset(("essay", "story", "poem", "blog post", "cover letter", "slogan", "marketing copy")),
    "translation": frozenset(("translate", "translation", "into french", "into chinese", "into spanish")),
    "summarization": frozenset(("summarize", "summarise", "summary", "tl dr", "key points")),
    "data": frozenset(("sql", "dataframe", "pandas", "csv", "spreadsheet", "database")),
    "science": frozenset(("physics", "chemistry", "biology", "molecule", "quantum", "genome", "enzyme")),
    "professional": frozenset(("legal", "contract", "diagnosis", "diagnose", "symptom", "symptoms", "investment",
                               "tax", "accounting")),
    "knowledge": frozenset(("history of", "who was", "capital of", "explain what", "trivia")),
}
AREAS: Final[tuple[str, ...]] = tuple(_AREA_CUES)
_PUNCT_TO_SPACE: Final = str.maketrans({c: " " for c in string.punctuation if c != "+"})


@dataclass(frozen=True)
class PromptFacts:
    """What one sampled prompt shows: marker bits, task-area bits and its template id."""

    template_id: int
    markers: int
    areas: int


def analyse(text: str, max_words: int) -> tuple[list[bytes], int, int]:
    """(distinct word 3-shingles, marker bits, area bits) of the first `max_words` words of a prompt.

    Shingles are the words themselves when there are fewer than three.
    """
    words = text.lower().translate(_PUNCT_TO_SPACE).split()[:max_words]
    triples = list(dict.fromkeys(" ".join(t) for t in zip(words, words[1:], words[2:])))
    grams = set(words)
    grams.update(" ".join(t) for t in zip(words, words[1:]))
    grams.update(triples)
    markers = (COT if not _COT_CUES.isdisjoint(grams) else 0) | (RUBRIC if not _RUBRIC_CUES.isdisjoint(grams) else 0)
    if not _REWRITE_CUES.isdisjoint(grams) and not _SENSITIVE_CUES.isdisjoint(grams):
        markers |= SENSITIVE_REWRITE
    areas = 0
    for i, cues in enumerate(_AREA_CUES.values()):
        if not cues.isdisjoint(grams):
            areas |= 1 << i
    if len(words) < 3:
        return [w.encode() for w in dict.fromkeys(words)] or [b""], markers, areas
    return [t.encode() for t in triples], markers, areas


def prompt_key(text: str) -> int:
    """Stable 64-bit key of a prompt's exact text (blake2b), for the exact-prompt cache."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def markers_and_areas(text: str, max_words: int = 160) -> tuple[int, int]:
    """Marker bits (COT, RUBRIC, SENSITIVE_REWRITE) and capability-area bits of a prompt."""
    _, markers, areas = analyse(text, max_words)
    return markers, areas


@dataclass
class Usage:
    """Who uses a shared artifact (a template or a system prompt), bounded to `cap` members."""

    first_seen_ms: int
    last_seen_ms: int
    example: str = ""
    requests: int = 0
    # Uses whose prompt asked for reasoning, grading or a sensitive rewrite (templates only).
    elicitations: int = 0
    members: dict[str, None] = field(default_factory=dict)
    saturated: bool = False
    # Unrelated units among the members (an org_id, or the account itself when it has none), and the
    # context version they were counted at: a signup that changes a member's org forces a recount.
    units: set[str] = field(default_factory=set)
    units_version: int = 0
    # Members per identity cluster, and the (member count, cluster registry version) counted at.
    cluster_counts: dict[str, int] = field(default_factory=dict)
    clusters_stamp: tuple[int, int] = (-1, -1)

    def add(self, account_id: str, occurred_ms: int, cap: int, org_id: str) -> bool:
        """Record one use by an account of org `org_id` ("" for none); True when the member set changed."""
        self.requests += 1
        self.last_seen_ms = max(self.last_seen_ms, occurred_ms)
        if account_id in self.members:
            return False
        if len(self.members) >= cap:
            self.saturated = True
            return False
        self.members[account_id] = None
        self.units.add(org_id or "\x00" + account_id)
        return True

    def cluster_share(self, cluster_id: str, cluster_of: dict[str, str], registry_version: int) -> float:
        """Share of the members that belong to identity cluster `cluster_id`."""
        stamp = (len(self.members), registry_version)
        if self.clusters_stamp != stamp:
            counts: dict[str, int] = {}
            for account in self.members:
                cid = cluster_of.get(account)
                if cid is not None:
                    counts[cid] = counts.get(cid, 0) + 1
            self.cluster_counts = counts
            self.clusters_stamp = stamp
        return self.cluster_counts.get(cluster_id, 0) / max(len(self.members), 1)

    def flagged_share(self, own_cluster: str | None, flagged: Callable[[str], bool], cluster_of: dict[str, str],
                      registry_version: int) -> float:
        """Share of the members in flagged identity clusters other than `own_cluster`; 0 unless at least
        half the uses elicit reasoning, grading or rewrites (a farm's distillation scaffold, not the
        ordinary prompts it mixes in as cover, which ordinary people share with it)."""
        if self.elicitations * 2 < self.requests:
            return 0.0
        self.cluster_share("", cluster_of, registry_version)  # refreshes cluster_counts
        hits = sum(n for cid, n in self.cluster_counts.items() if cid != own_cluster and flagged(cid))
        return hits / max(len(self.members), 1)

    def unrelated(self, org_of: Callable[[str], str], context_version: int) -> int:
        """Members that share no org_id with each other: distinct orgs plus accounts without one."""
        if self.units_version != context_version:
            self.units = {org_of(a) or "\x00" + a for a in self.members}
            self.units_version = context_version
        return len(self.units)


class SharedIndex:
    """Shared artifacts (keyed by a string) with their users; LRU-bounded to `capacity` entries."""

    def __init__(self, capacity: int, member_cap: int, org_of: Callable[[str], str]) -> None:
        self.capacity = capacity
        self.member_cap = member_cap
        self._org_of = org_of
        self.usage: OrderedDict[int, Usage] = OrderedDict()
        self.ids: dict[str, int] = {}
        self._keys: dict[int, str] = {}
        self._next_id = 1

    def __len__(self) -> int:
        return len(self.usage)

    def get(self, aid: int) -> Usage | None:
        return self.usage.get(aid)

    def use(self, key: str, account_id: str, occurred_ms: int) -> int:
        """Record that `account_id` used `key` at `occurred_ms`; returns the artifact id."""
        aid = self.ids.get(key)
        if aid is None:
            aid = self._next_id
            self._next_id += 1
            self.ids[key] = aid
            self._keys[aid] = key
            self.usage[aid] = Usage(occurred_ms, occurred_ms)
        else:
            self.usage.move_to_end(aid)
        self.usage[aid].add(account_id, occurred_ms, self.member_cap, self._org_of(account_id))
        while len(self.usage) > self.capacity:
            old, _ = self.usage.popitem(last=False)
            del self.ids[self._keys.pop(old)]
        return aid


# Shingles hashed per numpy pass: bounds the (shingles x num_perm) uint64 matrix (4 MiB at 64 permutations).
_MINHASH_CHUNK: Final = 8192


def minhash_rows(shingle_sets: Sequence[Sequence[bytes]], permutations: tuple[npt.NDArray[np.uint64], ...]
                 ) -> npt.NDArray[np.uint64]:
    """MinHash values (one row per non-empty shingle list) under datasketch's permutation family
    `permutations` (MinHash.permutations) over zlib.crc32: the values datasketch's
    MinHash(hashfunc=zlib.crc32).update_batch gives each list, computed for all lists at once."""
    if not all(shingle_sets):
        raise ValueError("every prompt needs at least one shingle (analyse gives b'' to an empty one)")
    a, b = permutations
    rows = np.empty((len(shingle_sets), a.size), dtype=np.uint64)
    done = 0
    while done < len(shingle_sets):
        end, total = done, 0
        while end < len(shingle_sets) and (end == done or total + len(shingle_sets[end]) <= _MINHASH_CHUNK):
            total += len(shingle_sets[end])
            end += 1
        chunk = shingle_sets[done:end]
        hv = np.fromiter(map(zlib.crc32, itertools.chain.from_iterable(chunk)), dtype=np.uint64, count=total)
        permuted = (hv[:, None] * a + b) % _mersenne_prime & _max_hash
        starts = np.zeros(len(chunk), dtype=np.intp)
        np.cumsum([len(c) for c in chunk[:-1]], out=starts[1:])
        rows[done:end] = np.minimum.reduceat(permuted, starts, axis=0)
        done = end
    return rows


@functools.lru_cache(maxsize=8)
def _lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch's optimal (bands, rows) for the threshold; it integrates numerically, so once."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return int(lsh.b), int(lsh.r)


class TemplateIndex:
    """Assigns near-duplicate prompts to templates and tracks who uses each template.

    Eviction is a segmented LRU in stream order: templates used by one account wait in probation,
    templates used by two or more are protected (at most 3/4 of `max_templates`), so a flood of
    one-off prompts cannot push out the shared templates that matter.
    """

    def __init__(self, config: RatePatternConfig, org_of: Callable[[str], str]) -> None:
        self._config = config
        self._org_of = org_of
        self._lsh = MinHashLSH(threshold=config.template_similarity, num_perm=config.minhash_num_perm,
                               params=_lsh_params(config.template_similarity, config.minhash_num_perm))
        # Representative MinHash values of live templates, one row each (row of a template: _rep_row).
        # datasketch's hash values are below 2**32, so uint32 holds them exactly.
        self._reps: npt.NDArray[np.uint32] = np.zeros((64, config.minhash_num_perm), dtype=np.uint32)
        self._rep_row: dict[int, int] = {}
        self._free_rows = list(range(63, -1, -1))
        self._probation: OrderedDict[int, Usage] = OrderedDict()
        self._protected: OrderedDict[int, Usage] = OrderedDict()
        self._cache: OrderedDict[int, tuple[int, int, int]] = OrderedDict()
        # datasketch draws its permutation family from the seed on every construction; draw it once.
        self._permutations = MinHash(num_perm=config.minhash_num_perm).permutations
        self._min_equal = config.template_similarity * config.minhash_num_perm
        self._next_id = 1
        self.hashed_prompts = 0

    def __len__(self) -> int:
        return len(self._probation) + len(self._protected)

    def get(self, tid: int) -> Usage | None:
        return self._protected.get(tid) or self._probation.get(tid)

    def items(self) -> list[tuple[int, Usage]]:
        return sorted([*self._protected.items(), *self._probation.items()])

    def prepare(self, texts: Sequence[str], wanted: Sequence[bool]) -> dict[int, tuple[MinHash, int, int]]:
        """MinHash (all in one pass), markers and areas of the wanted prompts not in the cache."""
        cfg = self._config
        todo: dict[int, str] = {}
        for t, w in zip(texts, wanted):
            k = prompt_key(t)
            if w and k not in self._cache and k not in todo:
                todo[k] = t
        fresh: dict[int, tuple[MinHash, int, int]] = {}
        if todo:
            self.hashed_prompts += len(todo)
            analysed = [analyse(t, cfg.max_shingle_words) for t in todo.values()]
            hashes = minhash_rows([a[0] for a in analysed], self._permutations)
            for k, hashvalues, (_, markers, areas) in zip(todo, hashes, analysed):
                fresh[k] = (LeanMinHash(seed=1, hashvalues=hashvalues), markers, areas)
        return fresh

    def assign_one(self, text: str, account: str, ts: int, wanted: bool,
                   fresh: dict[int, tuple[MinHash, int, int]], own: Sequence[int] = ()) -> PromptFacts:
        """Facts of one prompt; prompts must be assigned one by one in stream order.

        A prompt whose template is wanted joins, among the account's own live templates `own`, the most
        similar one with estimated Jaccard similarity >= template_similarity; failing that the most
        similar such template among the LSH candidates (lowest id on ties); failing that it founds a
        new template. A prompt whose template is not wanted gets markers and areas, and template id 0
        unless the identical prompt was assigned a template before.
        """
        cfg = self._config
        k = prompt_key(text)
        cached = self._cache.get(k)
        if cached is not None and self.get(cached[0]) is not None:
            self._cache.move_to_end(k)
            tid, markers, areas = cached
        elif wanted:
            mh, markers, areas = fresh[k] if k in fresh else self._rehash(text)
            tid = self._match(mh, text, ts, own)
            self._cache[k] = (tid, markers, areas)
            if len(self._cache) > cfg.prompt_cache_size:
                self._cache.popitem(last=False)
        else:
            _, markers, areas = analyse(text, cfg.max_shingle_words)
            return PromptFacts(0, markers, areas)
        self._use(tid, account, ts, markers)
        return PromptFacts(tid, markers, areas)

    def assign(self, texts: Sequence[str], account_ids: Sequence[str], occurred_ms: Sequence[int],
               want_template: Sequence[bool] | None = None) -> list[PromptFacts]:
        """`assign_one` for each prompt in order (without own-template shortcuts)."""
        wanted = [True] * len(texts) if want_template is None else list(want_template)
        fresh = self.prepare(texts, wanted)
        return [self.assign_one(t, a, ts, w, fresh) for t, a, ts, w in zip(texts, account_ids, occurred_ms, wanted)]

    def _use(self, tid: int, account: str, ts: int, markers: int) -> None:
        usage = self._protected.get(tid)
        org = self._org_of(account)
        elicits = 1 if markers & (COT | RUBRIC | SENSITIVE_REWRITE) else 0
        if usage is not None:
            usage.elicitations += elicits
            self._protected.move_to_end(tid)
            usage.add(account, ts, self._config.max_template_members, org)
            return
        usage = self._probation[tid]
        usage.elicitations += elicits
        self._probation.move_to_end(tid)
        if usage.add(account, ts, self._config.max_template_members, org) and len(usage.members) >= 2:
            del self._probation[tid]
            self._protected[tid] = usage
            if len(self._protected) > self._config.max_templates * 3 // 4:
                self._evict(self._protected)

    def _rehash(self, text: str) -> tuple[MinHash, int, int]:
        # A cached prompt whose template was evicted: hash it again.
        shingled, markers, areas = analyse(text, self._config.max_shingle_words)
        self.hashed_prompts += 1
        return LeanMinHash(seed=1, hashvalues=minhash_rows([shingled], self._permutations)[0]), markers, areas

    def _best(self, hashvalues: npt.NDArray[np.uint32], candidates: list[int]) -> int:
        """The most similar candidate at or above the threshold (lowest id on ties), or 0."""
        rows = np.fromiter(map(self._rep_row.__getitem__, candidates), dtype=np.intp, count=len(candidates))
        same = self._reps.take(rows, axis=0) == hashvalues
        equal = np.add.reduce(same.view(np.uint8), axis=1, dtype=np.uint8)  # at most num_perm <= 255
        best = int(equal.argmax())
        return candidates[best] if equal[best] >= self._min_equal else 0

    def _match(self, mh: MinHash, text: str, ts: int, own: Sequence[int] = ()) -> int:
        hashvalues = mh.hashvalues.astype(np.uint32)
        mine = sorted({t for t in own if t in self._rep_row})
        if mine:
            found = self._best(hashvalues, mine)
            if found:
                return found
        candidates = sorted(self._lsh.query(mh))
        if candidates:
            found = self._best(hashvalues, candidates)
            if found:
                return found
        tid = self._next_id
        self._next_id += 1
        self._lsh.insert(tid, mh)  # the index keeps the band hashes only
        if not self._free_rows:
            size = self._reps.shape[0]
            self._reps = np.concatenate([self._reps, np.zeros_like(self._reps)])
            self._free_rows = list(range(2 * size - 1, size - 1, -1))
        row = self._free_rows.pop()
        self._rep_row[tid] = row
        self._reps[row] = hashvalues
        self._probation[tid] = Usage(ts, ts, example=text[: self._config.template_example_chars])
        while len(self) > self._config.max_templates:
            self._evict(self._probation if len(self._probation) > 1 else self._protected)
        return tid

    def _evict(self, segment: OrderedDict[int, Usage]) -> None:
        old, _ = segment.popitem(last=False)
        self._lsh.remove(old)
        self._free_rows.append(self._rep_row.pop(old))
