"""Detection evaluation: score a decisions export against the simulator's ground-truth labels.

`distillguard evaluate --labels labels.json --decisions decisions.jsonl --events events.jsonl.gz
--out DIR` writes report.md, report.json and PNG plots and prints a one-screen summary. Labels are
read only to score (inputs.py), the arithmetic is pure (metrics.py, definitions in its docstring),
rendering is separate (report.py).
"""
