"""`distillguard export decisions`: one JSON object per account with any case or action."""

from __future__ import annotations

from typing import Any

from distillguard.casestore import create_engine, session_factory
from distillguard.settings import Settings
from enforcement.domain import EnforcementDomain, PolicyHolder


async def export_decisions(settings: Settings) -> list[dict[str, Any]]:
    engine = create_engine(settings.database_url)
    try:
        domain = EnforcementDomain(session_factory(engine), PolicyHolder.from_path(settings.policy_file))
        return [row async for row in domain.export_decisions()]
    finally:
        await engine.dispose()
