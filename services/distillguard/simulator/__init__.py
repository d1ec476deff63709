"""Traffic simulator: legitimate populations and model-distillation campaigns as JSON Lines events.

`distillguard simulate --scenario smoke|standard|alibaba-scale [--seed N] --out DIR` writes
DIR/events.jsonl.gz (the event contract, sorted by occurred_at), DIR/labels.json (account_id ->
"legit:<segment>" or "attack:<campaign>") and DIR/scenario.json (window, model release, counts).
Same seed, same bytes. Generation streams slice by slice with memory bounded by the account count
(engine.py); at scale the JSON lines are formatted and compressed in a helper process
(formatter.py), so two cores share the work (figures and the command in docs/benchmarks.md, bench.py).

The window has three existing models (frontier-1-mini, frontier-1, frontier-1.5) and a new one,
frontier-2, released at 17:00 UTC on the scenario's release day; attackers move about half their
traffic to it within 24 hours, legitimate users adopt it over days (developers and evaluation labs
fastest, production apps pinned to a version).

Legitimate segments and their hard cases are described in segments.py; the campaigns and the
traces each leaves, summarised here (details in campaigns.py):

- hydra: proxy farm at scale. Traces: staggered signup waves; prepaid/virtual cards from four BINs,
  each card fingerprint on ~5 accounts, cardholder names unrelated to account names, failed
  top-ups and chargebacks; residential proxy IPs each used by many accounts; VoIP phone blocks;
  24/7 traffic with a campaign-wide 3-hour rhythm in the operators' UTC+8 day; a small set of
  templated agentic/tool-use/coding prompts with identical chain-of-thought phrases, rubric
  grading and sensitive rewrites; half the traffic on the new model 2-14 h after release.
- mimic: human-mimicking farm. Traces: fuzzy-variant emails, names and cardholder names of a few
  dozen base identities; billing addresses that are typo variants of a handful of addresses;
  anti-detect device fingerprints shared by ~8 accounts each; aged accounts waking together;
  a human day and week in UTC+8 while claiming US/GB/CA/AU; the same task bank behind
  paraphrased scaffolds; half the traffic on the new model 3-18 h after release. No shared cards.
- reseller: API reseller. Traces: one egress /24 and one injected system-prompt hash across
  otherwise unrelated verified company accounts, identical user agent, distillation prompts mixed
  into real customer traffic, that distillation share moving to the new model 1-8 h after release.

No trace is unique to attackers (carrier NAT, VPN exits, campus NAT, corporate cards, family cards,
shared lab machines, public benchmark templates and harness prompts, templated production apps and
fast-adopting developers and labs all produce look-alikes), and labels never leak into events:
every identifier is random hex from the seeded generator.
"""
