"""The rate-pattern engine: inference batches and cluster updates in, explainable risk signals out.

Event time and determinism
--------------------------
All windows are event time (occurred_at). The watermark is the largest occurred_at seen so far
minus `allowed_lateness_ms`; an event older than the watermark at its arrival is late and not
counted, any other event is counted in the bucket of its own occurred_at. Scores are evaluated
each time the stream's max event time crosses a multiple of `evaluation_interval_ms`, before the
event that crossed it is counted. A batch is cut into segments at those crossings, so the state
an evaluation sees is that after exactly the events before the crossing in stream order: the
same events in the same order give the same signals whatever the batch sizes or the speed.

A segment is also cut before its max event time advances more than the minute ring can absorb
(ring rows minus lateness), so a ring row is never reused before its minute is final.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from google.protobuf.timestamp_pb2 import Timestamp

from distillguard.v1 import events_pb2, identity_pb2, ratepattern_pb2
from ratepattern.domain import features as fx
from ratepattern.domain.accounts import (
    DAY_RINGS,
    DETAIL_RINGS,
    HOUR_RINGS,
    MINUTE_RINGS,
    WEEK_HOURS,
    STACKS,
    AccountTable,
    Context,
)
from ratepattern.domain.batch import InferenceBatch
from ratepattern.domain.clusters import Cluster, ClusterRegistry
from ratepattern.domain.config import DAY_MS, HOUR_MS, MINUTE_MS, RatePatternConfig
from ratepattern.domain.content import AREAS, COT, RUBRIC, SENSITIVE_REWRITE, SharedIndex, TemplateIndex, Usage
from ratepattern.domain.dedupe import EventIdWindow
from ratepattern.domain.scoring import ACCOUNT_MODEL, CLUSTER_MODEL, Model

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_RATE_LIMITED: Final = events_pb2.INFERENCE_STATUS_RATE_LIMITED
_RESEARCH: Final = events_pb2.SIGNUP_PATH_RESEARCH_PROGRAM
_EDUCATION: Final = events_pb2.SIGNUP_PATH_EDUCATION
_ID_DOCUMENT: Final = events_pb2.VERIFICATION_ID_DOCUMENT
_SYNC_MINUTES: Final = 60
_SHARED_TEMPLATE_UNITS: Final = 3
_U32_MAX: Final = 2**32 - 1
_U16_MAX: Final = 2**16 - 1


@dataclass
class EngineStats:
    """Counters for metrics and the benchmark."""

    accepted: int = 0
    late: int = 0
    duplicates: int = 0
    sampled_prompts: int = 0
    evaluations: int = 0
    signals: int = 0


def _group(keys: I64) -> tuple[I64, I64, I64]:
    """Stable grouping: (order, group start positions in the ordered array, key of each group)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    flags = np.empty(ordered.size, dtype=np.bool_)
    flags[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=flags[1:])
    starts = np.flatnonzero(flags)
    return order, starts, ordered[starts]


def _ranks(order: I64, starts: I64) -> I64:
    """Position of each element within its group, in stream order."""
    n = order.size
    group_start = np.zeros(n, dtype=np.int64)
    group_start[starts] = starts
    np.maximum.accumulate(group_start, out=group_start)
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n) - group_start
    return ranks


def _timestamp(ms: int) -> Timestamp:
    return Timestamp(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


class RatePatternEngine:
    """Per-account and per-cluster distillation features over event-time windows, and their scores."""

    def __init__(self, config: RatePatternConfig = RatePatternConfig()) -> None:
        self.config = config
        self.accounts = AccountTable(config)
        self.templates = TemplateIndex(config, self._org_of)
        self.system_prompts = SharedIndex(config.max_system_prompts, config.max_template_members, self._org_of)
        self.clusters = ClusterRegistry()
        self.stats = EngineStats()
        self._dedupe = EventIdWindow()
        self._contexts: OrderedDict[str, Context] = OrderedDict()
        self._context_version = 0  # bumped when a counted account's signup context changes
        self._signups = 0
        self._max_ms: int | None = None
        self._stream_start: int | None = None
        # Minutes with requests not yet folded into the per-hour counts. Which slots a minute touched is
        # read back from its row of the minute ring (non-zero requests) when it is folded.
        self._minutes_pending: set[int] = set()
        self._model_ids: dict[str, int] = {}
        self._model_first_ms: list[int] = []
        self._released: list[int] = []
        self._evicted_day = -1
        a = self.accounts
        self._max_advance_minutes = a.minute_rows - config.lateness_minutes - 3

    # ------------------------------------------------------------------ inputs

    def apply_signup(self, event: events_pb2.SignupEvent) -> None:
        """Remember the account's org, signup path and verification (context, never labels)."""
        if not event.account_id:
            return
        zones = self.accounts.zones
        country = zones.countries[zones.index(event.country)]  # canonical: "" for unknown codes
        context = Context(event.org_id, int(event.signup_path), int(event.verification), country)
        self._signups += 1
        slot = self.accounts.slot_of.get(event.account_id)
        if slot is not None:
            if context != self.accounts.context(slot):
                self.accounts.set_context(slot, context)
                # Counted template and system-prompt users may have changed org: recount lazily.
                self._context_version += 1
        else:
            self._contexts[event.account_id] = context
            self._contexts.move_to_end(event.account_id)
            while len(self._contexts) > self.config.max_pending_contexts:
                self._contexts.popitem(last=False)

    def apply_cluster_update(self, update: identity_pb2.ClusterUpdate) -> list[ratepattern_pb2.RiskSignal]:
        """Apply a membership update and re-score the cluster at the current stream time."""
        cluster = self.clusters.apply(update)
        if cluster is None or self._max_ms is None:
            return []
        return self._evaluate_clusters([cluster], self._max_ms + 1)

    def apply_inference(self, batch: InferenceBatch) -> list[ratepattern_pb2.RiskSignal]:
        """Count a batch (stream order) and return the signals of the evaluations it triggered."""
        n = len(batch)
        if n == 0:
            return []
        cfg = self.config
        ts = batch.occurred_ms
        run = np.maximum.accumulate(ts)
        if self._max_ms is not None:
            np.maximum(run, self._max_ms, out=run)
            first_prev = self._max_ms
        else:
            first_prev = int(ts[0])
        prev = np.empty_like(run)
        prev[0] = first_prev
        prev[1:] = run[:-1]

        late = ts < prev - cfg.allowed_lateness_ms
        keys = batch.event_keys
        fresh = ~late & ~self._dedupe.seen(keys)
        candidates = np.flatnonzero(fresh)
        _, first = np.unique(keys[candidates], return_index=True)
        accepted = np.zeros(n, dtype=np.bool_)
        accepted[candidates[first]] = True
        n_accepted = int(accepted.sum())
        self.stats.late += int(late.sum())
        self.stats.duplicates += n - n_accepted - int(late.sum())

        interval = cfg.evaluation_interval_ms
        crossing = (run // interval) > (prev // interval)
        crossing_at = np.flatnonzero(crossing)
        signals: list[ratepattern_pb2.RiskSignal] = []
        s = 0
        while s < n:
            if crossing[s]:
                signals.extend(self._evaluate(int(run[s] // interval * interval)))
            limit = (int(prev[s]) // MINUTE_MS + self._max_advance_minutes + 1) * MINUTE_MS
            e = int(np.searchsorted(run, limit, side="left"))
            e = max(e, s + 1)
            k = int(np.searchsorted(crossing_at, s, side="right"))
            if k < crossing_at.size:
                e = min(e, int(crossing_at[k]))
            rows = s + np.flatnonzero(accepted[s:e])
            self._advance(int(run[e - 1]))
            if rows.size:
                self._add(batch, rows)
            self._finalize_minutes(self._watermark_minute())
            s = e
        self._dedupe.add(keys[accepted], ts[accepted] // MINUTE_MS)
        self._dedupe.expire(self._watermark_minute())
        self.stats.accepted += n_accepted
        self.stats.signals += len(signals)
        return signals

    # ------------------------------------------------------------------ queries

    @property
    def stream_time_ms(self) -> int | None:
        """Largest occurred_at seen (the engine's notion of now)."""
        return self._max_ms

    def account_profile(self, account_id: str) -> ratepattern_pb2.AccountProfile | None:
        """Current features, score and reasons of an account, evaluated at the stream time."""
        return self.account_profiles([account_id])[0]

    def account_profiles(self, account_ids: Sequence[str]) -> list[ratepattern_pb2.AccountProfile | None]:
        """`account_profile` of each id (None for an account without traffic), evaluated together.

        The features are computed for all the accounts in one vectorized pass, whose cost is mostly
        per call (~1 ms), so answering concurrent profile requests together is much cheaper.
        """
        found = [(i, slot) for i, a in enumerate(account_ids) if (slot := self.accounts.slot_of.get(a)) is not None]
        out: list[ratepattern_pb2.AccountProfile | None] = [None] * len(account_ids)
        if not found or self._max_ms is None:
            return out
        now = self._max_ms + 1
        slots = np.array([slot for _, slot in found], dtype=np.int64)
        values = self._account_features(slots, now)
        x = np.column_stack([values[name] for name in ACCOUNT_MODEL.names])
        contrib = ACCOUNT_MODEL.contributions(x)
        scores = ACCOUNT_MODEL.scores(contrib)
        hists = self._hour_of_day(slots, now)  # [24, accounts]
        for j, (i, _) in enumerate(found):
            account_id = account_ids[i]
            hist = hists[:, j]
            out[i] = ratepattern_pb2.AccountProfile(
                account_id=account_id,
                cluster_id=self.clusters.cluster_of.get(account_id, ""),
                score=float(scores[j]),
                reasons=ACCOUNT_MODEL.reasons(x[j], contrib[j], self.config.max_reasons),
                features={k: float(v[j]) for k, v in values.items() if not np.isnan(v[j])},
                hour_of_day=[ratepattern_pb2.HourBucket(hour=h, requests=int(hist[h])) for h in range(24)],
            )
        return out

    def cluster_profile(self, cluster_id: str) -> ratepattern_pb2.GetClusterProfileResponse | None:
        """Current features, score and reasons of a cluster, evaluated at the stream time."""
        cluster = self.clusters.clusters.get(cluster_id)
        if cluster is None or self._max_ms is None:
            return None
        now = self._max_ms + 1
        values, x, contrib, score, slots = self._score_cluster(cluster, now)
        hist = self._hour_of_day(slots, now).sum(axis=1) if slots.size else np.zeros(24)
        return ratepattern_pb2.GetClusterProfileResponse(
            cluster_id=cluster_id,
            score=score,
            reasons=CLUSTER_MODEL.reasons(x, contrib, self.config.max_reasons),
            features={k: v for k, v in values.items() if not np.isnan(v) and k != "last_request_ms"},
            members=cluster.members,
            hour_of_day=[ratepattern_pb2.HourBucket(hour=h, requests=int(hist[h])) for h in range(24)],
        )

    def list_templates(self, min_accounts: int) -> list[ratepattern_pb2.Template]:
        """Live templates used by at least `min_accounts` accounts, most accounts first.

        `accounts` saturates at max_template_members; `requests` counts sampled prompts.
        """
        out = []
        for tid, usage in self.templates.items():
            if len(usage.members) < max(min_accounts, 1):
                continue
            clusters = {self.clusters.cluster_of.get(a) for a in usage.members} - {None}
            orgs = {self._org_of(a) for a in usage.members} - {""}
            out.append(ratepattern_pb2.Template(
                template_id=f"tpl-{tid}", accounts=len(usage.members), clusters=len(clusters),
                orgs=len(orgs), requests=usage.requests, example=usage.example))
        out.sort(key=lambda t: (-t.accounts, int(t.template_id[4:])))
        return out

    def snapshot(self) -> bytes:
        """The whole state, serialized (pickle) between batches, for a checkpoint next to the
        consumer offsets. Restoring it and feeding the events after those offsets gives the same
        signals as an uninterrupted run. Only load snapshots this service wrote itself."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, snapshot: bytes) -> RatePatternEngine:
        """An engine in the state `snapshot` captured."""
        engine = pickle.loads(snapshot)
        if not isinstance(engine, cls):
            raise TypeError(f"snapshot holds {type(engine).__name__}, not {cls.__name__}")
        return engine

    def state_bytes(self) -> dict[str, int]:
        """Bytes held by the numpy state (account table, dedupe window)."""
        return {"account_table": self.accounts.nbytes(), "dedupe": self._dedupe.nbytes}

    # ------------------------------------------------------------------ counting

    def _watermark_minute(self) -> int:
        assert self._max_ms is not None
        return (self._max_ms - self.config.allowed_lateness_ms) // MINUTE_MS

    def _advance(self, new_max: int) -> None:
        """Move the stream's max event time forward, recycling ring rows of buckets now out of reach."""
        a = self.accounts
        old = self._max_ms
        if old is None:
            self._max_ms = new_max
            return
        if new_max <= old:
            return
        new_minute = new_max // MINUTE_MS
        self._finalize_minutes(new_minute - a.minute_rows + 1)
        a.clear_rows(MINUTE_RINGS, a.minute_rows, old // MINUTE_MS + 1, new_minute)
        a.clear_rows(HOUR_RINGS, a.hour_rows, old // HOUR_MS + 1, new_max // HOUR_MS)
        a.clear_rows(DETAIL_RINGS, a.detail_rows, old // HOUR_MS + 1, new_max // HOUR_MS)
        a.clear_rows(DAY_RINGS, a.day_rows, old // DAY_MS + 1, new_max // DAY_MS)
        self._max_ms = new_max

    def _add(self, batch: InferenceBatch, rows: I64) -> None:
        cfg = self.config
        a = self.accounts
        ids = batch.account_ids
        account_ids = [ids[i] for i in rows.tolist()]
        slots = a.slots(account_ids, self._contexts)
        cap = a.capacity
        n = slots.size
        t = batch.occurred_ms[rows]
        if self._stream_start is None:
            self._stream_start = int(t[0])
        hour = t // HOUR_MS

        # Requests per hour (a week of them) and the rank of each request within its account-hour.
        key = (hour % a.hour_rows) * cap + slots
        order, starts, uniq = _group(key)
        flat = a.hour_requests.reshape(-1)
        before = flat[key].astype(np.int64)
        rank = _ranks(order, starts)
        candidates = np.flatnonzero(before + rank < cfg.samples_per_account_hour)
        # The account's requests that UTC day before each candidate, in stream order.
        day = t // DAY_MS
        day_key = slots * 4 + (day - day.min())
        day_rank = _ranks(*_group(day_key)[:2])[candidates]
        if candidates.size:
            c_hours = day[candidates][None, :] * 24 + np.arange(24)[:, None]
            live = c_hours <= (self._max_ms or 0) // HOUR_MS
            earlier = a.hour_requests[c_hours % a.hour_rows, slots[candidates][None, :]]
            day_before = np.where(live, earlier, 0).sum(axis=0) + day_rank
        else:
            day_before = np.zeros(0, dtype=np.int64)
        flat[uniq] = np.minimum(flat[uniq].astype(np.int64) + np.diff(np.append(starts, n)), _U16_MAX)

        # Requests and the rpm limit per minute; remember which minutes are yet to be folded.
        minute = t // MINUTE_MS
        key = (minute % a.minute_rows) * cap + slots
        order, starts, uniq = _group(key)
        counts = np.diff(np.append(starts, n))
        flat = a.minute_requests.reshape(-1)
        flat[uniq] = np.minimum(flat[uniq].astype(np.int64) + counts, 65535)
        limits = np.minimum(batch.rpm_limit[rows], 65535)[order]
        flat = a.minute_limit.reshape(-1)
        flat[uniq] = np.maximum(flat[uniq], np.maximum.reduceat(limits, starts))
        self._minutes_pending.update(np.unique(minute).tolist())

        # Inter-arrival gaps in stream order per account, skipping requests older than one already seen.
        order = np.argsort(slots, kind="stable")
        s_ord, t_ord = slots[order], t[order]
        starts_flag = np.empty(n, dtype=np.bool_)
        starts_flag[:1] = True
        np.not_equal(s_ord[1:], s_ord[:-1], out=starts_flag[1:])
        group = np.cumsum(starts_flag) - 1
        t0 = int(t_ord.min())
        span = int(t_ord.max()) - t0 + 1
        shifted = (t_ord - t0) + group * span
        running = np.maximum.accumulate(shifted) - group * span + t0
        known = a.last_ms[s_ord]
        prior = np.empty(n, dtype=np.int64)
        prior[0] = -1
        prior[1:] = running[:-1]
        prior = np.where(starts_flag, known, np.maximum(prior, known))
        gap_ok_ord = (prior >= 0) & (t_ord >= prior)
        codes_ord = np.where(gap_ok_ord, fx.gap_codes(np.maximum(t_ord - prior, 0)), 0)
        gap_ok = np.empty(n, dtype=np.bool_)
        gap_ok[order] = gap_ok_ord
        codes = np.empty(n, dtype=np.int64)
        codes[order] = codes_ord
        gstarts = np.flatnonzero(starts_flag)
        gends = np.append(gstarts[1:], n) - 1
        gslots = s_ord[gstarts]
        a.last_ms[gslots] = np.maximum(a.last_ms[gslots], running[gends])
        gmin = np.minimum.reduceat(t_ord, gstarts)
        firsts = a.first_ms[gslots]
        a.first_ms[gslots] = np.where(firsts < 0, gmin, np.minimum(firsts, gmin))

        # Newly released models.
        release, new_model = self._release_masks(batch, rows, t)

        # Per-hour detail over the last day: one reduce and one saturating scatter per stacked ring.
        out_tok = batch.output_tokens[rows]
        max_tok = batch.max_tokens[rows]
        per_request = {
            "requests": np.ones(rows.size, dtype=np.int64),
            "input_tokens": batch.input_tokens[rows],
            "output_tokens": out_tok,
            "cap_hits": (max_tok > 0) & (out_tok * 1000 >= max_tok * round(cfg.max_tokens_fraction * 1000)),
            "rate_limited": batch.status[rows] == _RATE_LIMITED,
            "release_requests": release,
            "new_model_requests": new_model,
            "gap_count": gap_ok,
            "gap_sum": codes,
            "gap_sumsq": codes * codes,
        }
        key = (hour % a.detail_rows) * cap + slots
        order, starts, uniq = _group(key)
        at = (uniq // cap, uniq % cap)
        for stack in ("detail_tokens", "detail_counts"):
            fields = STACKS[stack]
            matrix = np.empty((n, len(fields)), dtype=np.int64)
            for j, name in enumerate(fields):
                matrix[:, j] = per_request[name]
            sums = np.add.reduceat(matrix[order], starts, axis=0).T
            arr = getattr(a, stack)
            arr[:, at[0], at[1]] = np.minimum(arr[:, at[0], at[1]].astype(np.int64) + sums, _U32_MAX)

        a.dirty[slots] = True
        np.add.at(a.pending_requests, slots, 1)
        self._sample_content(batch, rows, slots, account_ids, t, candidates, day_before)

    def _release_masks(self, batch: InferenceBatch, rows: I64, t: I64) -> tuple[npt.NDArray[np.bool_],
                                                                                 npt.NDArray[np.bool_]]:
        """(request made in some new model's release window, request to that new model)."""
        cfg = self.config
        assert self._stream_start is not None
        local = batch.model_index[rows]
        to_global = np.empty(len(batch.models), dtype=np.int64)
        registered_at: dict[int, int] = {}
        present = np.unique(local)
        first_pos = {int(m): int(np.argmax(local == m)) for m in present}
        for m, name in enumerate(batch.models):
            gid = self._model_ids.get(name)
            if gid is None and m in first_pos:
                gid = self._model_ids[name] = len(self._model_first_ms)
                first_ms = int(t[first_pos[m]])
                self._model_first_ms.append(first_ms)
                if first_ms >= self._stream_start + cfg.new_model_warmup_ms:
                    self._released.append(gid)
                    registered_at[gid] = first_pos[m]
            to_global[m] = -1 if gid is None else gid
        horizon = int(t.max()) - cfg.allowed_lateness_ms - cfg.new_model_window_ms
        self._released = [g for g in self._released if self._model_first_ms[g] > horizon or g in registered_at]
        release = np.zeros(rows.size, dtype=np.bool_)
        new_model = np.zeros(rows.size, dtype=np.bool_)
        if self._released:
            gids = to_global[local]
            position = np.arange(rows.size)
            for gid in self._released:
                f = self._model_first_ms[gid]
                window = (t >= f) & (t < f + cfg.new_model_window_ms) & (position >= registered_at.get(gid, 0))
                release |= window
                new_model |= window & (gids == gid)
        return release, new_model

    def _sample_content(self, batch: InferenceBatch, rows: I64, slots: I64, account_ids: list[str],
                        t: I64, candidates: I64, day_before: I64) -> None:
        """Analyse the prompts of sampled requests (first per account-hour, capped per account-day).

        `day_before[j]` is how many requests the account of candidate j made that UTC day before it.
        """
        if not candidates.size:
            return
        cfg = self.config
        a = self.accounts
        # Drop, vectorized, the candidates of accounts too light that day, and those whose account-day
        # quota was already used before this segment.
        busy = day_before >= cfg.sampling_starts_after
        candidates, day_before = candidates[busy], day_before[busy]
        c_days = t[candidates] // DAY_MS
        quota = np.minimum(255, np.maximum(cfg.samples_per_account_day,
                                           (cfg.sample_share * (day_before + 1)).astype(np.int64)))
        open_quota = a.sampled[c_days % a.day_rows, slots[candidates]] < quota
        candidates, day_before = candidates[open_quota], day_before[open_quota]
        taken: dict[tuple[int, int], int] = {}
        picked: list[tuple[int, int, str, str, str, int, bool]] = []
        for i, earlier in zip(candidates.tolist(), day_before.tolist()):
            slot = int(slots[i])
            ts = int(t[i])
            day = ts // DAY_MS
            so_far = int(a.sampled[day % a.day_rows, slot]) + taken.get((slot, day), 0)
            if so_far >= min(255, max(cfg.samples_per_account_day, int(cfg.sample_share * (earlier + 1)))):
                continue
            text, system_prompt = batch.content(int(rows[i]))
            if not text:
                continue
            taken[(slot, day)] = taken.get((slot, day), 0) + 1
            picked.append((slot, day, account_ids[i], text, system_prompt, ts,
                           so_far < cfg.template_samples_per_account_day))
        if not picked:
            return
        self.stats.sampled_prompts += len(picked)
        fresh = self.templates.prepare([p[3] for p in picked], [p[6] for p in picked])
        window = cfg.content_window_days
        facts = []
        for slot, day, account, text, system_prompt, ts, wanted in picked:
            own = [i for i, d in zip(a.template_ids[slot].tolist(), a.template_days[slot].tolist())
                   if i > 0 and d > day - window]
            fact = self.templates.assign_one(text, account, ts, wanted, fresh, own)
            facts.append(fact)
            if fact.template_id:
                _remember(a.template_ids, a.template_days, slot, fact.template_id, day)
            if system_prompt:
                pid = self.system_prompts.use(system_prompt, account, ts)
                _remember(a.prompt_ids, a.prompt_days, slot, pid, day)
        at = (np.array([p[1] for p in picked], dtype=np.int64) % a.day_rows,
              np.array([p[0] for p in picked], dtype=np.int64))
        markers = np.array([f.markers for f in facts], dtype=np.int64)
        np.add.at(a.sampled, at, 1)
        np.add.at(a.cot, at, (markers & COT > 0).astype(np.uint8))
        np.add.at(a.rubric, at, (markers & RUBRIC > 0).astype(np.uint8))
        np.add.at(a.rewrite, at, (markers & SENSITIVE_REWRITE > 0).astype(np.uint8))
        np.bitwise_or.at(a.areas, at, np.array([f.areas for f in facts], dtype=np.uint32))

    def _finalize_minutes(self, before_minute: int) -> None:
        """Fold every minute before `before_minute` into per-hour limit-hugging counts."""
        done = sorted(m for m in self._minutes_pending if m < before_minute)
        if not done:
            return
        self._minutes_pending.difference_update(done)
        a = self.accounts
        minutes = []
        slots_parts = []
        for m in done:
            # The ring row still holds minute m alone: rows are cleared for a newer minute only after this.
            slots = np.flatnonzero(a.minute_requests[m % a.minute_rows])
            slots_parts.append(slots)
            minutes.append(np.full(slots.size, m, dtype=np.int64))
        slots = np.concatenate(slots_parts)
        minute = np.concatenate(minutes)
        row = minute % a.minute_rows
        counts = a.minute_requests[row, slots].astype(np.int64)
        limits = a.minute_limit[row, slots].astype(np.int64)
        col = (minute // 60) % a.detail_rows
        known = limits > 0
        near = known & (counts * 1000 >= limits * round(self.config.near_limit_fraction * 1000))
        ratio = np.where(known, np.minimum(counts * 1000 // np.maximum(limits, 1), 65535), 0)
        np.add.at(a.active_minutes, (col, slots), 1)
        np.add.at(a.near_limit_minutes, (col, slots), near.astype(np.uint8))
        np.maximum.at(a.peak_permille, (col, slots), ratio.astype(np.uint16))

    # ------------------------------------------------------------------ features

    def _org_of(self, account_id: str) -> str:
        slot = self.accounts.slot_of.get(account_id)
        if slot is not None:
            return self.accounts.orgs[int(self.accounts.org[slot])]
        context = self._contexts.get(account_id)
        return context.org_id if context is not None else ""

    def _unrelated(self, index: SharedIndex | TemplateIndex, ids: I64) -> F64:
        """Unrelated-account count of each artifact id (0 for evicted or empty ids)."""
        out = np.zeros(ids.size, dtype=np.float64)
        for j, aid in enumerate(ids.tolist()):
            usage = index.get(aid)
            if usage is not None:
                out[j] = usage.unrelated(self._org_of, self._context_version)
        return out

    def _max_unrelated(self, index: SharedIndex | TemplateIndex, ids: I64, days: npt.NDArray[np.int32],
                       today: int) -> F64:
        live = (ids > 0) & (days > today - self.config.content_window_days)
        ids = np.where(live, ids, 0)
        uniq = np.unique(ids)
        counts = self._unrelated(index, uniq)
        per = counts[np.searchsorted(uniq, ids)]
        result: F64 = per.max(axis=1) if per.size else np.zeros(ids.shape[0])
        return result

    def _max_cluster_share(self, index: SharedIndex | TemplateIndex, slots: I64, ids: I64,
                           days: npt.NDArray[np.int32], today: int) -> F64:
        """Per account: over its live shared artifacts (>= 3 unrelated users), the largest share of the
        artifact's users that are in the account's own identity cluster (0 outside any cluster)."""
        cluster_of, version = self.clusters.cluster_of, self.clusters.version
        return self._max_over_shared(index, slots, ids, days, today, lambda usage, own: (
            usage.cluster_share(own or "", cluster_of, version)), clustered_only=True)

    def _flagged(self, cluster_id: str) -> bool:
        cluster = self.clusters.clusters.get(cluster_id)
        return cluster is not None and cluster.score >= self.config.enforce_threshold

    def _max_flagged_share(self, slots: I64, ids: I64, days: npt.NDArray[np.int32], today: int) -> F64:
        """Per account: over its live templates (>= 3 unrelated users), the largest share of the template's
        users that sit in identity clusters scoring in the enforce band, other than the account's own
        cluster (so a cluster's score never feeds back into itself through its members)."""
        cluster_of, version = self.clusters.cluster_of, self.clusters.version
        return self._max_over_shared(self.templates, slots, ids, days, today, lambda usage, own: (
            usage.flagged_share(own, self._flagged, cluster_of, version)))

    def _max_over_shared(self, index: SharedIndex | TemplateIndex, slots: I64, ids: I64,
                         days: npt.NDArray[np.int32], today: int,
                         share: Callable[[Usage, str | None], float], clustered_only: bool = False) -> F64:
        """Per account: the largest `share(usage, the account's cluster id)` over its artifacts used in the
        content window by at least three unrelated accounts (0 when there is none, or when the account is
        in no cluster and `clustered_only`)."""
        out = np.zeros(slots.size, dtype=np.float64)
        cluster_of = self.clusters.cluster_of
        horizon = today - self.config.content_window_days
        for j, slot in enumerate(slots.tolist()):
            own = cluster_of.get(self.accounts.account_of[slot])
            if own is None and clustered_only:
                continue
            best = 0.0
            for aid, day in zip(ids[j].tolist(), days[j].tolist()):
                usage = index.get(aid) if aid > 0 and day > horizon else None
                if usage is not None and usage.unrelated(self._org_of, self._context_version) >= 3:
                    best = max(best, share(usage, own))
            out[j] = best
        return out

    def _week(self, slots: I64, now: int) -> tuple[npt.NDArray[np.uint16], I64]:
        """[168, n] requests per hour for the week ending at `now`, and the hour numbers."""
        hour_now = (now - 1) // HOUR_MS
        hours = hour_now - np.arange(WEEK_HOURS - 1, -1, -1, dtype=np.int64)
        a = self.accounts
        week = a.hour_requests[np.ix_(hours % a.hour_rows, slots)]
        week[hours <= (self._max_ms or 0) // HOUR_MS - a.hour_rows] = 0
        return week, hours

    def _hour_of_day(self, slots: I64, now: int) -> F64:
        week, hours = self._week(slots, now)
        return fx.hour_of_day_histogram(week, hours)

    def _account_features(self, slots: I64, now: int) -> dict[str, F64]:
        cfg = self.config
        a = self.accounts
        hour_now = (now - 1) // HOUR_MS
        day_hours = (hour_now - np.arange(24)) % a.detail_rows
        today = (now - 1) // DAY_MS
        content_days = (today - np.arange(cfg.content_window_days)) % a.day_rows

        day: dict[str, F64] = {}
        for stack, fields in STACKS.items():
            rows = day_hours if stack != "content_counts" else content_days
            arr = getattr(a, stack)
            sums = arr[np.ix_(np.arange(arr.shape[0]), rows, slots)].sum(axis=1, dtype=np.float64)
            day.update(zip(fields, sums))

        def day_sum(name: str) -> F64:
            return day[name]

        content_sum = day_sum

        week, hours = self._week(slots, now)
        hour_of_day = fx.hour_of_day_histogram(week, hours)
        night, known = a.zones.night_requests(hour_of_day, a.country[slots].astype(np.int64), now)
        requests = day_sum("requests")
        sampled = content_sum("sampled")
        area_bits = np.bitwise_or.reduce(a.areas[np.ix_(content_days, slots)], axis=0)
        coverage = np.bitwise_count(area_bits).astype(np.float64) / len(AREAS)
        peak = a.peak_permille[np.ix_(day_hours, slots)].max(axis=0).astype(np.float64) / 1000.0
        release = day_sum("release_requests")
        path = a.signup_path[slots]
        values: dict[str, F64] = {
            "template_unrelated_accounts": self._max_unrelated(self.templates, a.template_ids[slots],
                                                               a.template_days[slots], today),
            "system_prompt_unrelated_accounts": self._max_unrelated(self.system_prompts, a.prompt_ids[slots],
                                                                    a.prompt_days[slots], today),
            "template_cluster_share": self._max_cluster_share(self.templates, slots, a.template_ids[slots],
                                                              a.template_days[slots], today),
            "template_flagged_share": self._max_flagged_share(slots, a.template_ids[slots], a.template_days[slots],
                                                              today),
            "system_prompt_cluster_share": self._max_cluster_share(self.system_prompts, slots, a.prompt_ids[slots],
                                                                   a.prompt_days[slots], today),
            "cot_elicitation_share": fx.shrunk_share(content_sum("cot"), sampled),
            "rubric_grading_share": fx.shrunk_share(content_sum("rubric"), sampled),
            "sensitive_rewrite_share": fx.shrunk_share(content_sum("rewrite"), sampled),
            "capability_coverage": np.where(sampled >= 4, coverage, np.nan),
            "new_model_share": fx.safe_ratio(day_sum("new_model_requests"), release, 5.0),
            "hour_entropy": fx.normalized_entropy(hour_of_day),
            "claimed_night_share": fx.safe_ratio(night, known, float(cfg.night_min_requests)),
            "interarrival_spread": fx.interarrival_spread(day_sum("gap_count"), day_sum("gap_sum"),
                                                          day_sum("gap_sumsq")),
            "weekend_contrast": fx.weekend_contrast(week, hours, a.first_ms[slots]),
            "cap_hit_share": fx.safe_ratio(day_sum("cap_hits"), requests),
            "output_input_ratio": fx.safe_ratio(day_sum("output_tokens"), day_sum("input_tokens")),
            "requests_day": requests,
            "near_limit_minute_share": fx.safe_ratio(day_sum("near_limit_minutes"), day_sum("active_minutes"), 5.0),
            "peak_rpm_ratio": np.where(peak > 0, peak, np.nan),
            "rate_limited_share": fx.safe_ratio(day_sum("rate_limited"), requests),
            "verified_research_program": ((path == _RESEARCH)
                                          & (a.verification[slots] >= _ID_DOCUMENT)).astype(np.float64),
            "education_signup": (path == _EDUCATION).astype(np.float64),
            "input_tokens_day": day_sum("input_tokens"),
            "output_tokens_day": day_sum("output_tokens"),
            "requests_week": week.sum(axis=0, dtype=np.float64),
            "sampled_prompts": sampled,
        }
        return values

    # ------------------------------------------------------------------ scoring

    def _evaluate(self, now: int) -> list[ratepattern_pb2.RiskSignal]:
        """Score every account touched since the last evaluation, then their clusters."""
        a = self.accounts
        self.stats.evaluations += 1
        # Nothing later than `now` has been counted: move the clock so ring rows of hours between the
        # last request and `now` are recycled before they are read.
        self._advance(now - 1)
        self._finalize_minutes(self._watermark_minute())
        signals: list[ratepattern_pb2.RiskSignal] = []
        cfg = self.config
        due = a.dirty & ((a.scored_ms < 0) | (a.scored_ms <= now - cfg.rescore_interval_ms)
                         | (a.pending_requests >= cfg.rescore_requests))
        slots = np.flatnonzero(due).astype(np.int64)
        touched_clusters: set[str] = set()
        if slots.size:
            values = self._account_features(slots, now)
            x = np.column_stack([values[name] for name in ACCOUNT_MODEL.names])
            contrib = ACCOUNT_MODEL.contributions(x)
            scores = ACCOUNT_MODEL.scores(contrib)
            a.score[slots] = scores
            a.dirty[slots] = False
            a.pending_requests[slots] = 0
            a.scored_ms[slots] = now
            emit, bands = self._transitions(scores, a.emitted_score[slots], a.emitted_band[slots])
            for j in np.flatnonzero(emit).tolist():
                slot = int(slots[j])
                account = a.account_of[slot]
                signals.append(ratepattern_pb2.RiskSignal(
                    signal_id=f"ratepattern:account:{account}:{now}",
                    subject_kind=ratepattern_pb2.SUBJECT_KIND_ACCOUNT,
                    account_id=account,
                    cluster_id=self.clusters.cluster_of.get(account, ""),
                    score=float(scores[j]),
                    reasons=ACCOUNT_MODEL.reasons(x[j], contrib[j], self.config.max_reasons),
                    occurred_at=_timestamp(int(a.last_ms[slot])),
                    window_requests=int(values["requests_day"][j]),
                ))
            a.emitted_score[slots[emit]] = scores[emit]
            a.emitted_band[slots[emit]] = bands[emit]
            cluster_of = self.clusters.cluster_of
            for slot in slots.tolist():
                cid = cluster_of.get(a.account_of[slot])
                if cid is not None:
                    touched_clusters.add(cid)
        signals.sort(key=lambda sig: sig.account_id)
        clusters = [self.clusters.clusters[c] for c in sorted(touched_clusters) if c in self.clusters.clusters]
        clusters = [c for c in clusters if c.scored_ms < 0 or c.scored_ms <= now - self.config.rescore_interval_ms]
        signals.extend(self._evaluate_clusters(clusters, now))
        self._evict_idle(now)
        return signals

    def _transitions(self, scores: F64, emitted: F64, bands: npt.NDArray[np.int8]) -> tuple[
            npt.NDArray[np.bool_], npt.NDArray[np.int8]]:
        """Which subjects to signal, and their new bands (0 quiet, 1 watch, 2 enforce), with hysteresis."""
        cfg = self.config
        new = np.where(scores >= cfg.enforce_threshold, 2, np.where(scores >= cfg.watch_threshold, 1, 0))
        new = np.where((bands == 2) & (scores >= cfg.enforce_threshold - cfg.hysteresis), 2, new)
        new = np.where((bands >= 1) & (new == 0) & (scores >= cfg.watch_threshold - cfg.hysteresis), 1, new)
        new = new.astype(np.int8)
        emit = (new != bands) | ((new >= 1) & (np.abs(scores - emitted) >= cfg.material_change))
        return emit, new

    def _score_cluster(self, cluster: Cluster, now: int) -> tuple[dict[str, float], F64, F64, float, I64]:
        a = self.accounts
        slot_of = a.slot_of
        slots = np.array(sorted(slot_of[m] for m in cluster.members if m in slot_of), dtype=np.int64)
        values = self._cluster_features(cluster, slots, now)
        x = np.array([[values[name] for name in CLUSTER_MODEL.names]], dtype=np.float64)
        contrib = CLUSTER_MODEL.contributions(x)
        score = float(CLUSTER_MODEL.scores(contrib)[0])
        return values, x[0], contrib[0], score, slots

    def _cluster_features(self, cluster: Cluster, slots: I64, now: int) -> dict[str, float]:
        nan = float("nan")
        cfg = self.config
        a = self.accounts
        stamp = (cluster.version, self._signups)
        if cluster.context_stamp != stamp:
            contexts = [self._context_of(m) for m in cluster.members]
            with_org = [c.org_id for c in contexts if c.org_id]
            cluster.context_features = {
                "members": float(len(cluster.members)),
                "single_org": float(len(cluster.members) >= 2 and len(set(with_org)) == 1
                                    and len(with_org) >= 0.8 * len(cluster.members)),
                "education_share": sum(c.signup_path == _EDUCATION for c in contexts) / max(len(contexts), 1),
                "verified_research_share": sum(c.signup_path == _RESEARCH and c.verification >= _ID_DOCUMENT
                                               for c in contexts) / max(len(contexts), 1),
            }
            cluster.context_stamp = stamp
        base = dict(cluster.context_features)
        if not slots.size:
            return {**{name: nan for name in CLUSTER_MODEL.names}, **base, "active_members": 0.0}
        today = (now - 1) // DAY_MS
        hour_now = (now - 1) // HOUR_MS
        day_hours = (hour_now - np.arange(24)) % a.detail_rows
        content_days = (today - np.arange(cfg.content_window_days)) % a.day_rows
        week, hours = self._week(slots, now)
        hour_of_day = fx.hour_of_day_histogram(week, hours)
        night, known = a.zones.night_requests(hour_of_day, a.country[slots].astype(np.int64), now)
        requests = a.requests[np.ix_(day_hours, slots)].sum(axis=0, dtype=np.float64)
        active = requests > 0
        sampled = float(a.sampled[np.ix_(content_days, slots)].sum())
        shares = {}
        for name, ring in (("cot_elicitation_share", a.cot), ("rubric_grading_share", a.rubric),
                           ("sensitive_rewrite_share", a.rewrite)):
            hits = float(ring[np.ix_(content_days, slots)].sum())
            shares[name] = float(fx.shrunk_share(np.array([hits]), np.array([sampled]))[0])
        shared = self._shared_template_members(slots, today)
        shared_prompt = self._shared_prompt_members(slots, today)
        n_active = int(active.sum())
        minutes = (now - 1) // MINUTE_MS - np.arange(_SYNC_MINUTES)
        minutes_ok = minutes > (self._max_ms or 0) // MINUTE_MS - a.minute_rows
        act = a.minute_requests[np.ix_(minutes[minutes_ok] % a.minute_rows, slots)] > 0
        release = a.release_requests[np.ix_(day_hours, slots)].sum()
        new_model = a.new_model_requests[np.ix_(day_hours, slots)].sum()
        return {
            **base,
            "active_members": float(n_active),
            "member_score_mean": float(a.score[slots][active].mean()) if n_active else nan,
            "shared_template_member_share": float(shared[active].mean()) if n_active else nan,
            "shared_system_prompt_member_share": float(shared_prompt[active].mean()) if n_active else nan,
            **shares,
            "new_model_share": float(new_model / release) if release >= 5 else nan,
            "synchronized_minutes": fx.synchronized_minutes(act),
            "staggered_activation": fx.staggered_activation(a.first_ms[slots], a.last_ms[slots], now),
            "hour_entropy": float(fx.normalized_entropy(hour_of_day.sum(axis=1, keepdims=True))[0]),
            "claimed_night_share": float(night.sum() / known.sum()) if known.sum() >= cfg.night_min_requests else nan,
            "requests_day": float(requests.sum()),
            "last_request_ms": float(a.last_ms[slots].max()),
        }

    def _shared_template_members(self, slots: I64, today: int) -> npt.NDArray[np.bool_]:
        """Which members used (in the content window) a template that at least three members use and
        that at least three unrelated accounts use overall."""
        a = self.accounts
        live = (a.template_ids[slots] > 0) & (a.template_days[slots] > today - self.config.content_window_days)
        if not live.any():
            return np.zeros(slots.size, dtype=np.bool_)
        tids = np.where(live, a.template_ids[slots], 0)
        uniq, inverse = np.unique(tids, return_inverse=True)
        inverse = inverse.reshape(tids.shape)
        pairs = np.unique(np.arange(slots.size)[:, None] * uniq.size + inverse)
        users = np.bincount(pairs % uniq.size, minlength=uniq.size)
        unrelated = self._unrelated(self.templates, uniq)
        widely = (uniq > 0) & (users >= _SHARED_TEMPLATE_UNITS) & (unrelated >= _SHARED_TEMPLATE_UNITS)
        return np.asarray(widely[inverse].any(axis=1), dtype=np.bool_)

    def _shared_prompt_members(self, slots: I64, today: int) -> npt.NDArray[np.bool_]:
        """Which members used (in the content window) a system prompt that at least three members use."""
        a = self.accounts
        live = (a.prompt_ids[slots] > 0) & (a.prompt_days[slots] > today - self.config.content_window_days)
        if not live.any():
            return np.zeros(slots.size, dtype=np.bool_)
        pids = np.where(live, a.prompt_ids[slots], 0)
        uniq, inverse = np.unique(pids, return_inverse=True)
        inverse = inverse.reshape(pids.shape)
        pairs = np.unique(np.arange(slots.size)[:, None] * uniq.size + inverse)
        users = np.bincount(pairs % uniq.size, minlength=uniq.size)
        widely = (uniq > 0) & (users >= _SHARED_TEMPLATE_UNITS)
        return np.asarray(widely[inverse].any(axis=1), dtype=np.bool_)

    def _context_of(self, account_id: str) -> Context:
        slot = self.accounts.slot_of.get(account_id)
        if slot is not None:
            return self.accounts.context(slot)
        return self._contexts.get(account_id, Context())

    def _evaluate_clusters(self, clusters: list[Cluster], now: int) -> list[ratepattern_pb2.RiskSignal]:
        signals = []
        for cluster in clusters:
            values, x, contrib, score, _slots = self._score_cluster(cluster, now)
            cluster.score = score
            cluster.scored_ms = now
            emit, band = self._transitions(np.array([score]), np.array([cluster.emitted_score]),
                                           np.array([cluster.emitted_band], dtype=np.int8))
            if not emit[0]:
                continue
            cluster.emitted_score = score
            cluster.emitted_band = int(band[0])
            last = values.get("last_request_ms", float("nan"))
            signals.append(ratepattern_pb2.RiskSignal(
                signal_id=f"ratepattern:cluster:{cluster.cluster_id}:{now}",
                subject_kind=ratepattern_pb2.SUBJECT_KIND_CLUSTER,
                cluster_id=cluster.cluster_id,
                score=score,
                reasons=CLUSTER_MODEL.reasons(x, contrib, self.config.max_reasons),
                occurred_at=_timestamp(int(last) if not np.isnan(last) else now),
                members=cluster.members,
                window_requests=int(np.nan_to_num(values.get("requests_day", 0.0))),
            ))
        return signals

    def _evict_idle(self, now: int) -> None:
        """Once per UTC day, free the slots of accounts idle for longer than the retention."""
        day = now // DAY_MS
        if day == self._evicted_day:
            return
        self._evicted_day = day
        a = self.accounts
        idle = np.flatnonzero((a.last_ms >= 0) & (a.last_ms < now - self.config.account_idle_retention_ms))
        if idle.size:
            for account, context in a.release(idle.astype(np.int64)):
                if context != Context():
                    self._contexts[account] = context


def _remember(ids: npt.NDArray[np.int64], days: npt.NDArray[np.int32], slot: int, artifact: int, day: int) -> None:
    """Record that `slot` used `artifact` on `day`, replacing its least recently used entry if needed."""
    row = ids[slot].tolist()
    if artifact in row:
        j = row.index(artifact)
        days[slot, j] = max(int(days[slot, j]), day)
        return
    used = days[slot].tolist()
    j = used.index(min(used))
    ids[slot, j] = artifact
    days[slot, j] = day


__all__ = ["EngineStats", "Model", "RatePatternEngine"]
