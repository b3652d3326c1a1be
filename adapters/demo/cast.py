"""The demo's people, agents and the situations they play, each within a minute of start."""

from __future__ import annotations

import asyncio

from opslayer.adapters.demo.agents import DemoAgent, Situation, soon

ADMIN = ("Ada Admin", "ada@demo.example")  # the newcomer signs in as Ada
COLLEAGUE = ("Bo Builder", "bo@demo.example")  # owns the run offered to Ada


async def refund_waiting_for_approval(agent: DemoAgent) -> None:
    run = await agent.register(
        "refund-1001", "Refund order 1001", policy={"approval_reminder_s": 120}
    )
    await agent.api.report_status(run, "running")
    await agent.work(run, ["look up the order", "check the carrier"])
    await agent.api.checkpoint(run, {"checkpoint_id": "order-found", "step": "look up the order"})
    await agent.api.request_approval(
        run,
        {
            "request_id": "refund-42",
            "title": "Refund 42 EUR to order 1001?",
            "details": "The parcel never arrived; the carrier confirms it is lost.",
            "action": "refund",
            "arguments": {"order": 1001, "amount_eur": 42, "reason": "lost parcel"},
            "arguments_schema": {
                "type": "object",
                "properties": {
                    "order": {"type": "integer"},
                    "amount_eur": {"type": "integer", "minimum": 1, "maximum": 42},
                    "reason": {"type": "string"},
                },
                "required": ["order", "amount_eur"],
            },
            "decisions": ["approve", "edit", "reject", "respond"],
            "risk": "medium",
            "timeout_s": 3600,
            "on_timeout": "reject",
        },
    )


async def crawler_goes_silent(agent: DemoAgent) -> None:
    run = await agent.register(
        "crawl-partners", "Crawl the partner catalogue", policy={"heartbeat_timeout_s": 15}
    )
    await agent.api.report_status(run, "running")
    await agent.work(run, ["fetch page 1", "fetch page 2", "fetch page 3"])
    await agent.api.checkpoint(run, {"checkpoint_id": "page-3", "step": "fetch page 3"})
    # …and then nothing: no heartbeat, so opslayer calls it stuck.


async def report_left_paused(agent: DemoAgent) -> None:
    run = await agent.register(
        "q4-report",
        "Draft the Q4 report",
        policy={"stale_after_s": 30},
        context={
            "thread_id": "slack:C0DEMO/1700000000.000100",
            "memory": [
                {"key": "q4-figures", "scope": "app", "updated_at": soon(-3 * 24 * 60).isoformat()},
                {"key": "style-guide", "scope": "user", "updated_at": soon(-20).isoformat()},
            ],
        },
    )
    await agent.api.report_status(run, "running")
    await agent.work(run, ["collect the figures"])
    await agent.api.report_status(run, "paused", reason="waiting for finance's numbers")
    # Nobody resumes it: after 30 s it is stale.


async def credentials_expire_soon(agent: DemoAgent) -> None:
    run = await agent.register("crm-sync", "Sync CRM contacts")
    await agent.api.report_status(run, "running", auth_expires_at=soon(20))

    async def keep_beating() -> None:
        for _ in range(10_000):
            await agent.api.heartbeat(run, step="sync contacts", message="the OAuth token expires")
            await asyncio.sleep(5)

    asyncio.create_task(keep_beating())  # noqa: RUF006 - lives as long as the demo


async def invoices_fail_after_sending(agent: DemoAgent) -> None:
    run = await agent.register("invoices-2026-11", "Send the November invoices")
    await agent.api.report_status(run, "running")
    await agent.work(run, ["build invoices"])
    await agent.api.checkpoint(run, {"checkpoint_id": "built", "step": "build invoices"})
    await agent.work(run, ["email invoices"])
    email = {
        "key": "email:invoices-2026-11",
        "idempotent": False,
        "description": "emailed 212 invoices to customers",
    }
    await agent.api.checkpoint(
        run, {"checkpoint_id": "emailed", "step": "email invoices", "side_effects": [email]}
    )
    await agent.api.report_status(
        run, "failed", error="ledger API: 503 Service Unavailable while booking the invoices"
    )


async def handoff_waiting(agent: DemoAgent) -> None:
    run = await agent.register(
        "vendor-onboarding", "Onboard vendor ACME", owner=COLLEAGUE[1], policy={}
    )
    await agent.api.report_status(run, "running")
    await agent.work(run, ["collect documents"])


SCENES: dict[str, list[Situation]] = {
    "refunds": [refund_waiting_for_approval],
    "crawler": [crawler_goes_silent],
    "reports": [report_left_paused],
    "crm-sync": [credentials_expire_soon],
    "billing": [invoices_fail_after_sending],
    "onboarding": [handoff_waiting],
}
