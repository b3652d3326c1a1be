"""The Bolt app: button clicks and `/agent`, each mapped to a person and a use case (via=slack).

Every listener acks first (Slack wants an answer within 3 s), then does the work; what must
survive a restart is written by the use case before anything else happens.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.web.async_client import AsyncWebClient

from opslayer.adapters.chat.agent_commands import Asker, Markup, answer
from opslayer.adapters.chat.use_cases import UseCases
from opslayer.adapters.slack.blocks import (
    CONFIRMED,
    OPEN_ACTION,
    details_modal,
    edit_modal,
    reassign_modal,
    reject_modal,
    respond_modal,
    retry_modal,
    safe,
)
from opslayer.adapters.slack.identity import link_by_email
from opslayer.bot.approvals.model import DecisionType, Risk
from opslayer.bot.audit import Via
from opslayer.bot.errors import ConfirmationRequired, OpsError
from opslayer.bot.people.model import Identity, Person
from opslayer.bot.views.forms import EditForm, by_name, edit_form, field_id, read_edit

_MENTION = re.compile(r"<@[A-Z0-9]+>")


def slack_markup(prefix: str) -> Markup:
    """How Slack writes emphasis and code, and how commands are typed there (`/agent ` by
    default, `@opslayer ` in a channel, nothing in a direct message)."""
    return Markup(bold=lambda s: f"*{s}*", code=lambda s: f"`{s}`", prefix=prefix, safe=safe)


class _SameToken(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns, at every start, that the client passed in
    wins over it; that client carries that very token, so the warning tells an operator
    nothing but to worry."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


logging.getLogger(f"slack_bolt.{AsyncApp.__name__}").addFilter(_SameToken())


def build_bolt_app(
    *,
    client: AsyncWebClient,
    signing_secret: str | None,
    use: UseCases,
    command: str = "/agent",
) -> AsyncApp:
    """Bolt with opslayer's listeners; verification of Slack's signature is Bolt's own."""
    bolt = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        request_verification_enabled=signing_secret is not None,
        process_before_response=False,
    )
    reads, operations = use.reads, use.operations

    async def known(user_id: str, action: str, run_id: str | None = None) -> Person:
        """The person behind a Slack user: linked already, or by the email Slack confirms for
        them; a stranger is refused (and audited)."""
        identity = Identity(slack_user_id=user_id)
        return await use.person(
            identity,
            via=Via.SLACK,
            action=action,
            run_id=run_id,
            otherwise=lambda: link_by_email(client, use, user_id),
        )

    async def perform(verb: str, run_id: str, approval_id: str, person: Person, yes: bool) -> None:
        """A button that acts at once (`yes`: Slack's confirmation dialog was answered)."""
        approvals = operations.approvals
        actions: dict[str, Callable[[], Awaitable[Any]]] = {
            "approve": lambda: approvals.approve(
                approval_id, person=person, via=Via.SLACK, confirmed=yes
            ),
            "approve_always": lambda: approvals.decide(
                approval_id,
                DecisionType.APPROVE,
                person=person,
                via=Via.SLACK,
                confirmed=yes,
                always=True,
            ),
            "cancel": lambda: operations.commands.cancel(run_id, person=person, via=Via.SLACK),
            "pause": lambda: operations.commands.pause(run_id, person=person, via=Via.SLACK),
            "resume": lambda: operations.commands.resume(run_id, person=person, via=Via.SLACK),
            "retry": lambda: operations.commands.retry(run_id, person=person, via=Via.SLACK),
            "acknowledge": lambda: operations.alerts.acknowledge(
                run_id, person=person, via=Via.SLACK
            ),
            "accept": lambda: operations.handoffs.accept(run_id, person=person, via=Via.SLACK),
        }
        await actions[verb]()  # the message itself is updated, for everyone

    async def open_modal(verb: str, run_id: str, approval_id: str, trigger_id: str) -> str | None:
        """The buttons that need more from the person open a modal (the trigger lasts 3 s);
        each names the run (and the approval) it acts on. Returns why none opened, if so."""
        if verb not in ("reassign", "reject", "edit", "respond", "retry", "details"):
            return None
        run = (await reads.get_run(run_id)).run
        subject = f"{run.title} ({run.id})"
        approval = await reads.approval(approval_id) if approval_id else None
        if approval is not None:
            subject = f"{subject} · {approval.title}"
        if verb == "reassign":
            view = reassign_modal(run_id, subject)
        elif verb == "reject":
            view = reject_modal(run_id, approval_id, subject)
        elif verb == "respond":
            view = respond_modal(run_id, approval_id, subject)
        elif verb == "edit" and approval is not None:
            form = edit_form(approval)
            if form.get("too_large"):
                return (
                    ":no_entry: These arguments are too large to edit in Slack: use"
                    f" `opslayer runs approve {run_id} --edit JSON`."
                )
            high = approval.risk is Risk.HIGH
            view = edit_modal(run_id, approval_id, form, subject=subject, high_risk=high)
        elif verb == "retry":
            checkpoints = await reads.checkpoints(run_id)
            points = [{"checkpoint_id": c.checkpoint_id, "step": c.step} for c in checkpoints]
            unsafe = [e.key for c in checkpoints for e in c.side_effects if not e.idempotent]
            view = retry_modal(run_id, points, unsafe=unsafe, subject=subject)
        else:
            trail = await reads.audit_trail(run_id)
            timeline = [
                f"<!date^{int(e.at.timestamp())}^{{date_short}} {{time}}|{e.at:%m-%d %H:%M}>"
                f" {e.action} — {safe(e.actor.name)} via {e.actor.via}"
                for e in trail
            ]
            view = details_modal(run_id, timeline, subject)
        await client.views_open(trigger_id=trigger_id, view=view)
        return ""

    @bolt.action(OPEN_ACTION)
    async def on_open(ack: Any) -> None:
        """ "Open in opslayer" is a link: the browser opens it; Slack wants an ack all the same."""
        await ack()

    @bolt.action(re.compile(r"^opslayer_"))
    async def on_click(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        action = body["actions"][0]
        verb = action["action_id"].removeprefix("opslayer_")
        run_id, _, rest = action.get("value", "").partition("|")
        approval_id, _, mark = rest.partition("|")
        user = body["user"]["id"]
        note: str | None = None
        try:  # strangers open nothing either: Details shows the run's whole history
            person = await known(user, verb, run_id or None)
            opened = await open_modal(verb, run_id, approval_id, body.get("trigger_id", ""))
            if opened is None:
                await perform(verb, run_id, approval_id, person, yes=mark == CONFIRMED)
            else:
                note = opened or None
        except ConfirmationRequired as risky:
            note = f":warning: {risky.message}. Confirm from a terminal with `--confirm`."
        except OpsError as refused:
            note = f":no_entry: {refused.message}"
        if note:
            await respond(text=note, response_type="ephemeral", replace_original=False)

    def field(state: dict[str, Any], block: str) -> dict[str, Any]:
        value: dict[str, Any] = state["values"].get(block, {}).get("value", {})
        return value

    async def submitted(
        ack: Any,
        body: dict[str, Any],
        block: str | Callable[[OpsError], str],
        work: Callable[[Person], Awaitable[Any]],
    ) -> None:
        """Do the work, then close the modal, or keep it open with the reason next to `block`
        (or the block a refusal is about)."""
        try:
            person = await known(body["user"]["id"], str(body.get("view", {}).get("callback_id")))
            await work(person)
        except OpsError as refused:
            where = block if isinstance(block, str) else block(refused)
            await ack(response_action="errors", errors={where: refused.message[:150]})
            return
        await ack()

    @bolt.view("opslayer_reassign")
    async def on_reassign(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        state = view["state"]
        new_owner = Identity(slack_user_id=field(state, "user").get("selected_user"))
        reason = field(state, "reason").get("value")
        run_id = view["private_metadata"]
        await submitted(
            ack,
            body,
            "user",
            lambda me: operations.handoffs.reassign(
                run_id, person=me, via=Via.SLACK, new_owner=new_owner, reason=reason
            ),
        )

    def decided_in(
        view: dict[str, Any], decision: DecisionType, **how: Any
    ) -> Callable[[Person], Awaitable[Any]]:
        _, _, approval_id = view["private_metadata"].partition("|")
        return lambda me: operations.approvals.decide(
            approval_id, decision, person=me, via=Via.SLACK, **how
        )

    @bolt.view("opslayer_reject")
    async def on_reject(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        words = field(view["state"], "reason").get("value")
        await submitted(ack, body, "reason", decided_in(view, DecisionType.REJECT, message=words))

    @bolt.view("opslayer_respond")
    async def on_respond(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        words = field(view["state"], "reason").get("value")
        await submitted(ack, body, "reason", decided_in(view, DecisionType.RESPOND, message=words))

    @bolt.view("opslayer_edit")
    async def on_edit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The edited arguments are read back per field (or as JSON), then judged by the
        approval's schema; a wrong value keeps the modal open with the reason beside it."""
        state = view["state"]
        _, _, approval_id = view["private_metadata"].partition("|")
        approval = await reads.approval(approval_id)
        form = edit_form(approval)
        inputs = {block: _submitted_value(field(state, block)) for block in state["values"]}
        values = by_name(form, inputs)
        confirmed = bool(field(state, "confirm").get("selected_options"))

        async def work(me: Person) -> Any:
            arguments = read_edit(approval, values)
            return await operations.approvals.decide(
                approval_id,
                DecisionType.EDIT,
                person=me,
                via=Via.SLACK,
                arguments=arguments,
                confirmed=confirmed,
            )

        await submitted(ack, body, lambda refused: _blamed(form, refused), work)

    @bolt.view("opslayer_retry")
    async def on_retry(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        state = view["state"]
        start = (field(state, "checkpoint").get("selected_option") or {}).get("value")
        confirmed = bool(field(state, "confirm").get("selected_options"))
        await submitted(
            ack,
            body,
            "confirm",
            lambda me: operations.commands.retry(
                view["private_metadata"],
                person=me,
                via=Via.SLACK,
                from_checkpoint_id=start,
                confirm_replay=confirmed,
            ),
        )

    slash = slack_markup(f"{command} ")

    @bolt.command(command)
    async def on_agent(ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack()
        words = command.get("text", "").split()
        # Answers are for the asker alone, unless they ask to share: `/agent status RUN here`.
        shared = bool(words) and words[-1] == "here"
        if shared:
            words = words[:-1]
        if words[:1] == ["login"]:
            shared = False  # a sign-in link is never shown to the channel
        text = await _answer(
            words, command["user_id"], command.get("channel_id"), slash, True, private=True
        )
        if text.startswith(":no_entry:"):
            shared = False
        await respond(text=text, response_type="in_channel" if shared else "ephemeral")

    async def _answer(
        words: list[str],
        user: str,
        channel: str | None,
        markup: Markup,
        shared_hint: bool,
        *,
        private: bool = False,
    ) -> str:
        asker = Asker(
            person=lambda: known(user, (markup.prefix + " ".join(words[:1])).strip()),
            via=Via.SLACK,
            channel=channel,
            private=private,
        )
        try:
            return await answer(words, asker, use=use, markup=markup, shared_hint=shared_hint)
        except OpsError as refused:
            return f":no_entry: {refused.message}"

    @bolt.event("app_mention")
    async def on_mention(event: dict[str, Any], say: Any) -> None:
        """`@opslayer status` in a channel: answered in the thread of the mention."""
        words = _MENTION.sub(" ", event.get("text", "")).split()
        if words and words[0].lower() == "agent":
            words = words[1:]
        text = await _answer(
            words, event["user"], event.get("channel"), slack_markup("@opslayer "), False
        )
        await say(text=text, thread_ts=event.get("thread_ts") or event.get("ts"))

    @bolt.event("message")
    async def on_direct_message(event: dict[str, Any], say: Any) -> None:
        """A direct message to the bot (`status`, `mine`, …); other messages are not ours."""
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
            return
        words = _MENTION.sub(" ", event.get("text", "")).split()
        if words and words[0].lower() == "agent":
            words = words[1:]
        await say(
            text=await _answer(
                words, event["user"], event.get("channel"), slack_markup(""), False, private=True
            )
        )

    return bolt


def _submitted_value(value: dict[str, Any]) -> Any:
    """A modal input's value as the edit form reads it: text, a choice, or a checkbox."""
    if "selected_options" in value:
        return bool(value["selected_options"])
    if "selected_option" in value:
        return (value["selected_option"] or {}).get("value")
    return value.get("value")


def _blamed(form: EditForm, refused: OpsError) -> str:
    """The edit modal's block a refusal is about: the confirmation, the field it names
    ("amount: 500 is greater than 100"), else the first input."""
    if isinstance(refused, ConfirmationRequired):
        return "confirm"
    fields = form.get("fields", [])
    for index, item in enumerate(fields):
        if refused.message.startswith((f"{item['name']}:", f"{item['label']}:")):
            return field_id(index)
    return field_id(0) if fields else "json"
