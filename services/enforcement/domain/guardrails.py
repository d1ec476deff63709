"""Guard rails: decisions the policy may propose but only a human may apply.

A held action is recorded with status "proposed" in a case with status "review", together with why it was
held (`review_reasons`) and its blast radius. Holding applies to throttle-or-stronger actions; monitor never
needs a human. Reasons:

- `cluster_ban_size`: a ban that covers a cluster (a cluster signal, or a rule with scope: cluster) whose size
  is above `guard_rails.review_cluster_ban_above`;
- `verified_enterprise`: the account signed up through enterprise_sales and has an org_id;
- `id_document`: the account verified an identity document;
- `prior_human_decision`: a human already rejected or reversed an action on this account, so the machine
  does not overrule them on its own (weaker-or-equal actions are not proposed again at all).

The last three are about the account, so such accounts get a case of their own (subject "account") even when
the signal was about their cluster: an operator decides on them one by one.
"""

from __future__ import annotations

from typing import Final

from distillguard.casestore.models import ActionKind
from enforcement.domain.policy import Facts, GuardRails

CLUSTER_BAN_SIZE: Final = "cluster_ban_size"
VERIFIED_ENTERPRISE: Final = "verified_enterprise"
ID_DOCUMENT: Final = "id_document"
PRIOR_HUMAN_DECISION: Final = "prior_human_decision"
ACCOUNT_HOLDS: Final = frozenset({VERIFIED_ENTERPRISE, ID_DOCUMENT, PRIOR_HUMAN_DECISION})


def account_holds(rails: GuardRails, facts: Facts) -> list[str]:
    """Reasons, from the account's own facts, why no restriction of it may be applied automatically."""
    holds = []
    if rails.review_verified_enterprise and facts.signup_path == "enterprise_sales" and facts.org_id:
        holds.append(VERIFIED_ENTERPRISE)
    if rails.review_id_document and facts.verification == "id_document":
        holds.append(ID_DOCUMENT)
    return holds


def holds_for(
    rails: GuardRails,
    kind: ActionKind,
    *,
    account_reasons: list[str],
    cluster_wide: bool,
    cluster_size: int,
) -> list[str]:
    """Every reason this action, on this account, must wait for a human (empty: apply it)."""
    if not kind.enforces:
        return []
    holds = list(account_reasons)
    if kind is ActionKind.BAN and cluster_wide and cluster_size > rails.review_cluster_ban_above:
        holds.append(CLUSTER_BAN_SIZE)
    return holds
