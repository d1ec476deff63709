"""Frozen configuration of the rate-pattern engine."""

from __future__ import annotations

from dataclasses import dataclass

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class RatePatternConfig:
    """Every tunable of the engine; the defaults are the documented production values.

    Times are event time (InferenceEvent.occurred_at) in milliseconds unless the name says otherwise.
    """

    # Event time. An event is counted when occurred_at >= (max occurred_at seen before it) - lateness.
    allowed_lateness_ms: int = HOUR_MS
    # Clock skew allowed ahead of the processing clock: the service refuses (dead-letters) an event whose
    # occurred_at is later than its clock + this, so a far-future timestamp cannot move the watermark and
    # make the following traffic late. The engine has no clock: the caller passes the bound
    # (InferenceBatch.from_protobuf_values(values, not_after_ms)); None turns the check off.
    max_future_skew_ms: int | None = 5 * MINUTE_MS
    # Scores are evaluated each time the stream's max event time crosses a multiple of this. At an
    # evaluation, an account with requests since its last score is re-scored when it was never scored,
    # when `rescore_interval_ms` has passed since its last score, or when it made `rescore_requests`
    # requests since then. A cluster is re-scored when a member was and it was not scored within
    # `rescore_interval_ms`, and whenever its membership changes.
    evaluation_interval_ms: int = 15 * MINUTE_MS
    rescore_interval_ms: int = 4 * HOUR_MS
    rescore_requests: int = 32

    # Limit hugging: a minute is "near the limit" when its requests >= this share of account_rpm_limit.
    near_limit_fraction: float = 0.8
    # A request "asks for the cap" when output_tokens >= this share of its max_tokens.
    max_tokens_fraction: float = 0.9

    # Content sampling: of the first `samples_per_account_hour` requests of an account in each
    # event-time hour, a request is analysed once the account made `sampling_starts_after` requests
    # that UTC day, while its analysed prompts that day are fewer than
    # max(samples_per_account_day, sample_share * its requests that day so far).
    samples_per_account_hour: int = 1
    sampling_starts_after: int = 2
    samples_per_account_day: int = 2
    sample_share: float = 0.02
    # Of those, the first `template_samples_per_account_day` per account-day are also MinHashed for
    # template detection (identical prompts seen before reuse their template without hashing).
    template_samples_per_account_day: int = 2
    # Content shares and capability coverage use this many trailing UTC days (including today).
    content_window_days: int = 7

    # Near-duplicate templates (datasketch MinHash + MinHashLSH over word 3-shingles).
    minhash_num_perm: int = 64
    template_similarity: float = 0.5
    max_shingle_words: int = 160
    max_templates: int = 10_000
    max_template_members: int = 4_096
    template_example_chars: int = 200
    prompt_cache_size: int = 50_000
    max_system_prompts: int = 100_000

    # Claimed night (zones.py): local hours [night_start_hour, night_end_hour) of the signup country,
    # judged over the week's hour-of-day histogram once an account (or cluster) made this many requests.
    night_start_hour: int = 0
    night_end_hour: int = 6
    night_min_requests: int = 20

    # A model first seen at least this long after the stream started counts as newly released,
    # and its first `new_model_window_ms` are its release window.
    new_model_warmup_ms: int = 6 * HOUR_MS
    new_model_window_ms: int = DAY_MS

    # Accounts with no request for this long are dropped from the table (their signup context is kept).
    account_idle_retention_ms: int = 8 * DAY_MS
    max_pending_contexts: int = 1_000_000

    # Signals: emitted when a score enters or leaves a band or moves by `material_change` inside one.
    watch_threshold: float = 0.5
    enforce_threshold: float = 0.8
    hysteresis: float = 0.05
    material_change: float = 0.1
    max_reasons: int = 5

    def __post_init__(self) -> None:
        if self.allowed_lateness_ms < 0:
            raise ValueError("allowed_lateness_ms must be >= 0")
        if self.max_future_skew_ms is not None and self.max_future_skew_ms < 0:
            raise ValueError("max_future_skew_ms must be >= 0 (or None to turn the check off)")
        if self.evaluation_interval_ms <= 0 or HOUR_MS % self.evaluation_interval_ms:
            raise ValueError("evaluation_interval_ms must divide one hour")
        if not 0.0 < self.watch_threshold < self.enforce_threshold <= 1.0:
            raise ValueError("need 0 < watch_threshold < enforce_threshold <= 1")
        if self.samples_per_account_hour < 0 or not 0 <= self.samples_per_account_day <= 255:
            raise ValueError("sample counts must be in [0, 255]")
        if not 1 <= self.content_window_days <= 14:
            raise ValueError("content_window_days must be in [1, 14]")
        if not 2 <= self.minhash_num_perm <= 255:  # template matching counts equal values in a uint8
            raise ValueError("minhash_num_perm must be in [2, 255]")

    @property
    def lateness_minutes(self) -> int:
        return -(-self.allowed_lateness_ms // MINUTE_MS)
