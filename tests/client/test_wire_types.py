"""Values on the wire are what they say: no lax coercion of booleans into numbers, numbers into
moments or words into flags (a client's bug shows at once, as a 422)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from opslayer_client.contract import ApprovalIn, CheckpointIn, Heartbeat, PolicyIn, StatusReport

POINT = {"checkpoint_id": "c", "step": "s"}


@pytest.mark.parametrize(
    ("model", "body", "accepted"),
    [
        (Heartbeat, {"progress": False}, False),
        (Heartbeat, {"progress": "0.5"}, False),
        (Heartbeat, {"progress": 1}, True),
        (Heartbeat, {"at": 0}, False),
        (Heartbeat, {"at": "2026-11-29T09:00:00Z"}, True),
        (Heartbeat, {"at": "2026-11-29T09:00:00"}, False),  # no zone: which moment?
        (StatusReport, {"status": "running", "auth_expires_at": 1764406800}, False),
        (CheckpointIn, {**POINT, "side_effects": [{"key": "k", "idempotent": "yes"}]}, False),
        (CheckpointIn, {**POINT, "side_effects": [{"key": "k", "idempotent": 1}]}, False),
        (CheckpointIn, {**POINT, "resumable": "false"}, False),
        (PolicyIn, {"heartbeat_timeout_s": "60"}, False),
        (PolicyIn, {"heartbeat_timeout_s": True}, False),
        (PolicyIn, {"heartbeat_timeout_s": 60.0}, True),  # JSON Schema's integer
        (ApprovalIn, {"request_id": "r", "title": "t", "required_approvals": True}, False),
    ],
)
def test_wire_values_are_not_coerced(
    model: type[BaseModel], body: dict[str, Any], accepted: bool
) -> None:
    if accepted:
        model.model_validate(body)
    else:
        with pytest.raises(ValidationError):
            model.model_validate(body)


def test_the_document_says_what_the_server_checks() -> None:
    owner = ApprovalIn.model_json_schema()
    assert owner["not"]["required"] == ["timeout_s", "expires_at"]
    assert owner["then"]["required"] == ["arguments"]  # offering edit needs arguments
    policy = PolicyIn.model_json_schema()["properties"]["heartbeat_timeout_s"]["anyOf"][0]
    assert policy["exclusiveMinimum"] == 0 and policy["type"] == "integer"
