"""The Teams bot: remembers where it may post, answers `agent …`, and acts on card buttons.

Card buttons are Universal Actions: a click arrives as an `adaptiveCard/action` invoke, is
mapped to a person by their Microsoft Entra object id, runs the use case (via=teams) and is
answered with the card as it stands now. The card in the channel is updated for everyone by
the alert sync, which also carries decisions made on any other surface.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from botbuilder.core import ActivityHandler, InvokeResponse, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity, ChannelAccount, TextFormatTypes

from opslayer.adapters.chat.agent_commands import Asker, Markup, answer
from opslayer.adapters.chat.links import with_link
from opslayer.adapters.chat.use_cases import UseCases
from opslayer.adapters.teams.cards import (
    CARD_TYPE,
    alert_card,
    confirm_card,
    details_card,
    edit_form_card,
    notice_card,
    reassign_form,
    reject_form,
    respond_form,
    retry_form,
    safe,
)
from opslayer.adapters.teams.notifier import SURFACE
from opslayer.bot.alerts.ledger import current_view
from opslayer.bot.approvals.model import DecisionType, Risk
from opslayer.bot.approvals.voting import progress
from opslayer.bot.audit import Via
from opslayer.bot.errors import ConfirmationRequired, OpsError
from opslayer.bot.people.directory import link_chat_user, list_people
from opslayer.bot.people.model import Identity, Person
from opslayer.bot.ports import Conversation, UnitOfWork
from opslayer.bot.views.forms import by_name, edit_form, read_edit
from opslayer.bot.views.model import AlertView, is_digest

log = logging.getLogger("opslayer.teams")
TEAMS_MARKUP = Markup(
    bold=lambda s: f"**{s}**", code=lambda s: f"`{s}`", prefix="agent ", safe=safe
)
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE)
# Buttons that ask for more before acting.
FORMS = frozenset({"reject", "respond", "edit", "reassign", "retry"})
CARD_ACTION = "adaptiveCard/action"
DECISIONS = {  # an approval's buttons, and the decision each takes
    "approve": DecisionType.APPROVE,
    "approve_always": DecisionType.APPROVE,
    "edit": DecisionType.EDIT,
    "reject": DecisionType.REJECT,
    "respond": DecisionType.RESPOND,
}


def conversation_id(activity: Activity) -> str:
    """The conversation a message came from, without the thread (`;messageid=…`): posts to a
    channel start new threads rather than answer an old one."""
    return str(activity.conversation.id).split(";messageid=")[0]


def identity_of(choice: str) -> Identity:
    """A people-picker value (`teams:ID`, `email:ADDRESS`, `slack:ID`) as an identity."""
    kind, _, value = choice.partition(":")
    if kind == "teams":
        return Identity(teams_user_id=value)
    if kind == "slack":
        return Identity(slack_user_id=value)
    return Identity(email=value or choice)


def choice_of(person: Person) -> str | None:
    """How the people picker names a person (the inverse of identity_of)."""
    if person.teams_user_id:
        return f"teams:{person.teams_user_id}"
    if person.email:
        return f"email:{person.email}"
    if person.slack_user_id:
        return f"slack:{person.slack_user_id}"
    return None


def _card_answer(card: dict[str, Any]) -> InvokeResponse:
    return InvokeResponse(
        status=HTTPStatus.OK, body={"statusCode": 200, "type": CARD_TYPE, "value": card}
    )


def _bad_invoke(message: str) -> InvokeResponse:
    return InvokeResponse(
        status=HTTPStatus.OK,
        body={
            "statusCode": 400,
            "type": "application/vnd.microsoft.error",
            "value": {"code": "BadRequest", "message": message},
        },
    )


class OpslayerTeamsBot(ActivityHandler):  # type: ignore[misc]
    """opslayer in Teams: one instance serves every conversation; what must last is in the store."""

    def __init__(self, use: UseCases) -> None:
        self._use = use
        self._remembered: dict[str, str] = {}  # conversation → the reference last written

    # ---- where the bot may post ------------------------------------------------------------

    async def on_turn(self, turn_context: TurnContext) -> None:
        await self._remember(turn_context.activity)
        await super().on_turn(turn_context)

    async def _remember(self, activity: Activity) -> None:
        """Store the conversation reference on install and on every message (the service URL
        can move); unchanged references are not written again."""
        if activity.conversation is None or not activity.conversation.id:
            return
        where = conversation_id(activity)
        reference = TurnContext.get_conversation_reference(activity)
        reference.activity_id = None
        reference.conversation = copy.copy(activity.conversation)  # the turn still replies to it
        reference.conversation.id = where
        # botbuilder-schema reads the tenant from `tenantID`, Teams sends `tenantId`: take it
        # from channelData, where Teams always puts it (opening personal chats needs it).
        tenant = ((activity.channel_data or {}).get("tenant") or {}).get("id")
        reference.conversation.tenant_id = reference.conversation.tenant_id or tenant
        serialised: dict[str, Any] = reference.serialize()
        fingerprint = json.dumps(serialised, sort_keys=True)
        if self._remembered.get(where) == fingerprint:
            return
        kind = activity.conversation.conversation_type or "personal"
        sender = activity.from_property or ChannelAccount()
        conversation = Conversation(
            surface=SURFACE,
            conversation_id=where,
            kind=kind,
            reference=serialised,
            user_id=sender.aad_object_id if kind == "personal" else None,
            title=_title(activity, kind),
        )

        async def job(uow: UnitOfWork) -> None:
            await uow.conversations.remember(conversation)

        await self._use.store.run(job)
        self._remembered[where] = fingerprint

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        bot_id = turn_context.activity.recipient.id
        if any(member.id == bot_id for member in members_added):
            await turn_context.send_activity(
                _markdown(
                    "opslayer is here. Type **agent subscribe** in a channel to get your "
                    "runs' alerts there, or **agent help** for everything else."
                )
            )

    async def on_members_removed_activity(
        self, members_removed: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        if any(m.id == turn_context.activity.recipient.id for m in members_removed):
            await self._forget(turn_context.activity)

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        await self._forget(turn_context.activity)

    async def _forget(self, activity: Activity) -> None:
        """The app was removed here: stop posting (a new install is remembered again)."""
        where = conversation_id(activity)

        async def forget(uow: UnitOfWork) -> None:
            await uow.conversations.forget(SURFACE, where)

        await self._use.store.run(forget)
        self._remembered.pop(where, None)

    # ---- `agent …` ---------------------------------------------------------------------------

    def _person(
        self, turn: TurnContext, action: str, run_id: str | None = None
    ) -> Callable[[], Awaitable[Person]]:
        """Who sent the activity, as a known person; a stranger's attempt is audited.

        Someone known only by email (an agent named them so) is recognised on their first
        message or click: the Bot Connector gives their email, and opslayer links the two."""
        sender = turn.activity.from_property or ChannelAccount()
        aad = sender.aad_object_id

        async def linked() -> Person | None:
            return await self._link_by_email(turn, sender) if aad else None

        async def lookup() -> Person:
            identity = Identity(teams_user_id=aad)
            return await self._use.person(
                identity, via=Via.TEAMS, action=action, run_id=run_id, otherwise=linked
            )

        return lookup

    async def _link_by_email(self, turn: TurnContext, sender: ChannelAccount) -> Person | None:
        try:
            member = await TeamsInfo.get_member(turn, sender.id)
        except Exception as unknown:  # not in this conversation, or the connector is away
            log.info("Teams: no member record for %s: %s", sender.id, unknown)
            return None
        # The user principal name, not the `email` attribute: a tenant's admin may set any
        # mail address on their users, but a UPN's domain must be one the tenant has proven it
        # owns, so another tenant cannot pass for one of yours.
        upn = member.user_principal_name
        if not upn:
            return None
        return await link_chat_user(
            self._use.store,
            self._use.clock,
            surface="teams",
            email=upn,
            user_id=sender.aad_object_id,
            name=member.name,
        )

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if activity.value and not activity.text:
            return  # a legacy card submit: opslayer's cards use Action.Execute only
        text = TurnContext.remove_recipient_mention(activity) or ""
        words = _MENTION.sub(" ", text).replace("&nbsp;", " ").split()
        if words and words[0].lower() == "agent":
            words = words[1:]
        asker = Asker(
            person=self._person(turn_context, " ".join(words[:1]) or "status"),
            via=Via.TEAMS,
            channel=conversation_id(activity),
            private=(activity.conversation.conversation_type or "personal") == "personal",
        )
        try:
            reply = await answer(
                words,
                asker,
                use=self._use,
                markup=TEAMS_MARKUP,
            )
        except OpsError as refused:
            reply = f"⛔ {refused.message}"
        await turn_context.send_activity(_markdown(reply))

    # ---- card buttons ------------------------------------------------------------------------

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        if turn_context.activity.name != CARD_ACTION:
            response: InvokeResponse = await super().on_invoke_activity(turn_context)
            return response
        # Answered here rather than by ActivityHandler: its error path answers with an
        # exception object as the body, which does not serialise.
        value = turn_context.activity.value if isinstance(turn_context.activity.value, dict) else {}
        action = value.get("action") if isinstance(value.get("action"), dict) else None
        if action is None or action.get("type") != "Action.Execute" or not action.get("verb"):
            return _bad_invoke("expected an Action.Execute with a verb")
        data = action.get("data") if isinstance(action.get("data"), dict) else {}
        card = await self._on_card_action(turn_context, str(action["verb"]), data)
        return _card_answer(card)

    async def _view(self, data: dict[str, Any]) -> AlertView | None:
        """The alert a card's button names, as it is now (None: unknown, or a digest)."""
        alert_id = data.get("alert_id")
        if not isinstance(alert_id, str) or not alert_id:
            return None
        async with self._use.store.read() as uow:
            alert = await uow.alerts.get(alert_id)
            if alert is None:
                return None
            view = with_link(
                await current_view(uow, alert, self._use.clock.now()), self._use.public_url
            )
        return None if is_digest(view) else view

    async def _on_card_action(
        self, turn: TurnContext, verb: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        view = await self._view(data)
        if view is None:
            return notice_card("This card is out of date: opslayer no longer knows its alert.")
        if verb == "refresh":
            return alert_card(view)
        try:
            person = await self._person(turn, verb, view.get("run_id") or None)()
        except OpsError as stranger:
            return alert_card(view, notice=f"Nothing changed: {stranger.message}")
        if verb == "details":
            trail = await self._use.reads.audit_trail(view["run_id"])
            timeline = [
                f"{e.at:%m-%d %H:%M} {e.action} — {safe(e.actor.name)} via {e.actor.via}"
                for e in trail
            ]
            return details_card(view, timeline)
        if view.get("state") == "resolved":
            reason = "this card is out of date: " + str(view.get("resolution") or "it was settled")
            await self._use.operations.acting.record_refusal(
                who=person.id,
                via=Via.TEAMS,
                action=verb,
                run_id=view.get("run_id") or None,
                reason=reason,
                person=person,
                refusal="outdated card",
            )
            return alert_card(view, notice=f"Nothing changed: {reason}")
        if verb in FORMS and not data.get("submit"):
            return await self._form(verb, view)
        try:
            done = await self._act(verb, view, data, person)
        except ConfirmationRequired as risky:
            if verb in ("approve", "approve_always"):
                return confirm_card(view, verb, risky.message)
            if verb == "edit":
                return await self._form(verb, view, notice=f"Nothing changed: {risky.message}")
            how = (
                "Tick the box to confirm."
                if verb == "retry"
                else f"Confirm from a terminal: opslayer runs {verb} RUN --confirm."
            )
            return alert_card(view, notice=f"Nothing changed: {risky.message}. {how}")
        except OpsError as refused:
            if verb == "edit" and data.get("submit"):  # keep what they typed: say what is wrong
                return await self._form(verb, view, notice=f"Nothing changed: {refused.message}")
            return alert_card(view, notice=f"Nothing changed: {refused.message}")
        return alert_card(await self._view(data) or view, notice=done)

    async def _form(self, verb: str, view: AlertView, notice: str | None = None) -> dict[str, Any]:
        if verb == "reject":
            return reject_form(view)
        if verb == "respond":
            return respond_form(view)
        if verb == "edit":
            approval = await self._use.reads.approval(view["approval"]["id"])
            form = edit_form(approval)
            if form.get("too_large"):
                return alert_card(
                    view,
                    notice="These arguments are too large to edit in Teams: use"
                    f" opslayer runs approve {view['run_id']} --edit JSON",
                )
            return edit_form_card(view, form, high_risk=approval.risk is Risk.HIGH, notice=notice)
        if verb == "reassign":
            people = [
                (choice, p.name)
                for p in await list_people(self._use.store)
                if not p.removed and (choice := choice_of(p)) is not None
            ]
            return reassign_form(view, people)
        checkpoints = await self._use.reads.checkpoints(view["run_id"])
        points = [(c.checkpoint_id, c.step) for c in checkpoints]
        unsafe = [e.key for c in checkpoints for e in c.side_effects if not e.idempotent]
        return retry_form(view, points, unsafe)

    async def _act(self, verb: str, view: AlertView, data: dict[str, Any], person: Person) -> str:
        """Run the button's use case; the sentence says what happened."""
        run_id = view["run_id"]
        approval_id = view["approval"]["id"] if "approval" in view else ""
        ops, via = self._use.operations, Via.TEAMS
        reason = str(data.get("reason") or "").strip() or None
        if verb in DECISIONS:
            return await self._decide(verb, approval_id, data, person)
        if verb == "reassign":
            new_owner = identity_of(str(data.get("new_owner") or ""))
            await ops.handoffs.reassign(
                run_id, person=person, via=via, new_owner=new_owner, reason=reason
            )
            return "Offered; they are asked to accept, and you stay the owner until they do."
        if verb == "retry":
            start = str(data.get("checkpoint") or "") or None
            confirmed = data.get("confirm_replay") in ("yes", "true", True)
            await ops.commands.retry(
                run_id, person=person, via=via, from_checkpoint_id=start, confirm_replay=confirmed
            )
            return "Retry sent to the agent."
        simple: dict[str, Callable[[], Awaitable[Any]]] = {
            "cancel": lambda: ops.commands.cancel(run_id, person=person, via=via),
            "pause": lambda: ops.commands.pause(run_id, person=person, via=via),
            "resume": lambda: ops.commands.resume(run_id, person=person, via=via),
            "acknowledge": lambda: ops.alerts.acknowledge(run_id, person=person, via=via),
            "accept": lambda: ops.handoffs.accept(run_id, person=person, via=via),
        }
        if verb not in simple:
            return f"Nothing changed: opslayer has no button {verb!r}."
        await simple[verb]()
        return {
            "cancel": "Cancel sent to the agent.",
            "pause": "Pause sent to the agent.",
            "resume": "Resume sent to the agent.",
            "acknowledge": "You took the alert; escalation waits.",
            "accept": "The run is yours now.",
        }[verb]

    async def _decide(
        self, verb: str, approval_id: str, data: dict[str, Any], person: Person
    ) -> str:
        """A decision on an approval from its card (or one of its forms)."""
        confirmed = str(data.get("confirmed")).lower() == "true"
        arguments = None
        if verb == "edit":
            approval = await self._use.reads.approval(approval_id)
            form = edit_form(approval)
            arguments = read_edit(approval, by_name(form, data))
        words = str(data.get("answer") or data.get("reason") or "").strip() or None
        answer = await self._use.operations.approvals.decide(
            approval_id,
            DECISIONS[verb],
            person=person,
            via=Via.TEAMS,
            arguments=arguments,
            message=words,
            confirmed=confirmed,
            always=verb == "approve_always",
        )
        if answer.command is None and answer.approval.pending:
            return f"Your approval is counted: {progress(answer.approval)}."
        said = {
            "approve": "You approved it; the agent has been told.",
            "approve_always": "You approved it, and this action is approved from now on.",
            "edit": "You approved it with your changes; the agent has them.",
            "reject": "You rejected it; the agent has been told why.",
            "respond": "Your answer is on its way to the agent.",
        }
        return said[verb]


def _title(activity: Activity, kind: str) -> str | None:
    """What people call the conversation ("Payments › Alerts"), as far as Teams said."""
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    if kind == "personal":
        return (activity.from_property.name if activity.from_property else None) or None
    names = [
        (data.get("team") or {}).get("name"),
        (data.get("channel") or {}).get("name") or activity.conversation.name,
    ]
    return " › ".join(n for n in names if n) or None


def _markdown(text: str) -> Activity:
    """A markdown message; Teams wants a blank line between lines of a list."""
    message: Activity = MessageFactory.text(text.replace("\n", "\n\n"))
    message.text_format = TextFormatTypes.markdown
    return message
