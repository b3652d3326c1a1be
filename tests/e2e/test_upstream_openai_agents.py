"""The OpenAI Agents SDK's own streaming human-in-the-loop example, operated through a real
`opslayer serve` and decided by a person in the console.

Copied from openai/openai-agents-python `examples/agent_patterns/human_in_the_loop_stream.py`
at commit 7f7a44f8dc0650296bd5ab6c745c9bcbaa6ac3b7 (last changed in a6ce52d2). Changed only
where marked `# opslayer:`: the model scripted, `Runner.run_streamed` replaced by
`ops.run_streamed` (the same events, through every pause), and the example's terminal prompt
(`examples.auto_mode`, a helper of that repository) stood in for: opslayer's approvals take its
place, so the example's own approval loop finds nothing left to ask.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.real_server import Server


async def approve_in_the_console(server: Server, token: str, external_id: str) -> dict[str, Any]:
    """Alice signs in with a one-time link and presses Approve on the run's page."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"{server.url}/v1", headers=headers) as api:
        for _ in range(300):
            runs = (await api.get("/runs")).json()["items"]
            run = next((r for r in runs if r["external_id"] == external_id), None)
            if run is not None and run["status"] == "waiting_approval":
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the run never asked")
        detail = (await api.get(f"/runs/{run['id']}")).json()
    link = await asyncio.to_thread(server.cli, "login-link", "--as", "alice@example.com")
    path = urlsplit(link.strip().splitlines()[-1]).path
    async with httpx.AsyncClient(base_url=server.url) as browser:
        assert (await browser.post(path, data={"next": "/"})).status_code == 303
        page = (await browser.get(f"/runs/{run['id']}")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        [approval] = detail["approvals"]
        answer = await browser.post(
            f"/runs/{run['id']}/approve",
            data={"csrf": csrf[1], "approval_id": approval["id"]},
        )
        assert answer.status_code == 303
    found: dict[str, Any] = approval
    return found


async def test_the_streaming_example_pauses_for_oakland_and_finishes_once_approved(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    from agents import (
        Agent,
        Runner,
    )
    from agents.decorators import tool
    from agents.testing import ScriptedModel, assistant_message, function_call

    from opslayer_client.openai_agents import Opslayer

    minted = json.loads(server.cli("token", "create", "--agent", "weather", "--json"))
    # opslayer: the integration
    ops = Opslayer(server.url, token=minted["token"], owner={"email": "alice@example.com"})

    def confirm_with_fallback(question: str, default: bool) -> bool:  # opslayer: never asked
        raise AssertionError("opslayer decided every approval; the example asks nothing")

    async def _needs_temperature_approval(_ctx: Any, params: Any, _call_id: Any) -> bool:
        """Check if temperature tool needs approval."""
        return "Oakland" in params.get("city", "")

    @tool(
        # Dynamic approval: only require approval for Oakland
        needs_approval=_needs_temperature_approval
    )
    async def get_temperature(city: str) -> str:
        """Get the temperature for a given city.

        Args:
            city: The city to get temperature for.

        Returns:
            Temperature information for the city.
        """
        return f"The temperature in {city} is 20° Celsius"

    @tool
    async def get_weather(city: str) -> str:
        """Get the weather for a given city.

        Args:
            city: The city to get weather for.

        Returns:
            Weather information for the city.
        """
        return f"The weather in {city} is sunny."

    async def confirm(question: str) -> bool:
        """Prompt user for yes/no confirmation.

        Args:
            question: The question to ask.

        Returns:
            True if user confirms, False otherwise.
        """
        return confirm_with_fallback(f"{question} (y/n): ", default=True)

    async def main() -> None:
        """Run the human-in-the-loop example."""
        model = ScriptedModel(  # opslayer: the model, scripted
            [
                [
                    function_call("get_weather", {"city": "Oakland"}, call_id="w1"),
                    function_call("get_temperature", {"city": "Oakland"}, call_id="t1"),
                ],
                [assistant_message("Oakland is sunny and 20° Celsius.")],
            ]
        )
        main_agent = Agent(
            name="Weather Assistant",
            instructions=(
                "You are a helpful weather assistant. "
                "Answer questions about weather and temperature using the available tools."
            ),
            tools=[get_temperature, get_weather],
            model=model,  # opslayer: the model, scripted
        )

        # Run the agent with streaming
        result = ops.run_streamed(  # opslayer: instead of Runner.run_streamed
            main_agent,
            "What is the weather and temperature in Oakland?",
            external_id="weather-oakland",  # opslayer: the run's name in opslayer
        )
        async for _ in result.stream_events():
            pass  # Process streaming events silently or could print them

        # Handle interruptions
        while len(result.interruptions) > 0:
            print("\n" + "=" * 80)
            print("Human-in-the-loop: approval required for the following tool calls:")
            print("=" * 80)

            state = result.to_state()  # type: ignore[attr-defined]

            for interruption in result.interruptions:
                print("\nTool call details:")
                print(f"  Agent: {interruption.agent.name}")
                print(f"  Tool: {interruption.name}")
                print(f"  Arguments: {interruption.arguments}")

                confirmed = await confirm("\nDo you approve this tool call?")

                if confirmed:
                    print(f"✓ Approved: {interruption.name}")
                    state.approve(interruption)
                else:
                    print(f"✗ Rejected: {interruption.name}")
                    state.reject(interruption)

            # Resume execution with streaming
            print("\nResuming agent execution...")
            result = Runner.run_streamed(main_agent, state)  # type: ignore[assignment]
            async for _ in result.stream_events():
                pass  # Process streaming events silently or could print them

        print("\n" + "=" * 80)
        print("Final Output:")
        print("=" * 80)
        print(result.final_output)
        print("\nDone!")

    try:
        running = asyncio.create_task(main())
        approval = await approve_in_the_console(server, minted["token"], "weather-oakland")
        await asyncio.wait_for(running, 30)
    finally:
        ops.close()
    assert approval["action"] == "get_temperature" and approval["arguments"] == {"city": "Oakland"}
    out = capsys.readouterr().out
    assert "Final Output:" in out and "Oakland is sunny and 20° Celsius." in out
    assert out.rstrip().endswith("Done!") and "Human-in-the-loop" not in out
    headers = {"Authorization": f"Bearer {minted['token']}"}
    async with httpx.AsyncClient(base_url=f"{server.url}/v1", headers=headers) as api:
        [run] = (await api.get("/runs")).json()["items"]
    assert run["status"] == "succeeded"
