"""Pure domain of the rate-pattern analysis service: no Kafka, no gRPC.

Feed it `InferenceBatch`es (built from serialized InferenceEvent values), SignupEvents and
identity ClusterUpdates; it returns RiskSignals and answers profile and template queries.
"""

from ratepattern.domain.batch import InferenceBatch, Rejected
from ratepattern.domain.config import RatePatternConfig
from ratepattern.domain.engine import EngineStats, RatePatternEngine

__all__ = ["EngineStats", "InferenceBatch", "RatePatternConfig", "RatePatternEngine", "Rejected"]
