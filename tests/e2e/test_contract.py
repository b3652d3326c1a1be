"""The OpenAPI document and the server agree: schemathesis, bounded (25 examples per operation,
a fixed seed), against a real `opslayer serve`, finds no server error, no undocumented status,
header or body, no wrong Allow header, no ignored authentication, nothing that still answers
after it was removed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.real_server import Server

ST = str(Path(sys.executable).with_name("st"))
# Every check but positive_data_acceptance and negative_data_acceptance. Those find three cases
# where the server is right: text with NUL or a lone surrogate, refused because PostgreSQL
# cannot store it (a `pattern` saying so made schemathesis fail: "invalid regular expression"),
# twice (a text field, and free-form JSON such as `arguments`, which no schema short of a
# recursive one can constrain); and 500 side effects of 4,000 characters, which the body limit
# answers 413 before any shape check, where the generator expects a 4xx from its own list.
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "unsupported_method",
        "ignored_auth",
        "missing_required_header",
        "use_after_free",
        "ensure_resource_availability",
    )
)


def test_the_agent_api_does_what_its_openapi_document_says(tmp_path: Path) -> None:
    server = Server(tmp_path / "opslayer.db")
    server.env["OPSLAYER_AGENT_RATE_PER_S"] = "100000"  # the fuzzer is one busy agent
    server.start()
    try:
        server.cli("people", "add", "--email", "a@example.com")
        token = json.loads(server.cli("token", "create", "--agent", "fuzz", "--json"))["token"]
        done = subprocess.run(
            [
                ST,
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                "25",
                "--seed",
                "1",
                "--include-path-regex",
                "^/v1",
                "-H",
                f"Authorization: Bearer {token}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,  # schemathesis keeps a cache where it runs: not in the repository
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout[-6000:]
    assert "generated" in done.stdout
