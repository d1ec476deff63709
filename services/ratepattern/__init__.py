"""Rate-pattern analysis: distillation-specific behavioural signals from the inference stream.

`ratepattern.domain` is the pure, Kafka- and gRPC-free core; the worker and servicer wrap it.
"""
