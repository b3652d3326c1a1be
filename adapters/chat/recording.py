"""The recording notifier: keeps every post and update in memory, for tests and dry runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from opslayer.bot.ports import MessageRef
from opslayer.bot.views.model import AlertView, DigestView, MessageView, Target, is_digest


@dataclass
class RecordingNotifier:
    """Every message it was asked to post, and each message's updates, in order."""

    name: str = "recording"
    posts: list[tuple[Target, MessageView]] = field(default_factory=list)
    updates: list[tuple[int, MessageView]] = field(default_factory=list)

    threads: list[MessageRef | None] = field(default_factory=list)  # each post's thread

    async def post(
        self, target: Target, view: MessageView, *, thread: MessageRef | None = None
    ) -> MessageRef | None:
        self.posts.append((target, view))
        self.threads.append(thread)
        return {"n": str(len(self.posts) - 1)}

    async def update(self, ref: MessageRef, view: MessageView) -> None:
        self.updates.append((int(ref["n"]), view))

    @property
    def alerts(self) -> list[tuple[Target, AlertView]]:
        """The alerts posted (digests aside), in order."""
        return [(target, view) for target, view in self.posts if not is_digest(view)]

    @property
    def digests(self) -> list[tuple[Target, DigestView]]:
        """The digests posted, in order."""
        return [(target, view) for target, view in self.posts if is_digest(view)]

    def current(self, n: int) -> AlertView:
        """Alert message n as a person would see it now: its last update, else as posted."""
        latest = self.posts[n][1]
        for index, view in self.updates:
            if index == n:
                latest = view
        assert not is_digest(latest), f"message {n} is a digest"
        return latest
