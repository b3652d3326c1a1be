"""`opslayer teams package`: the zip Teams takes, and a manifest that matches the bot."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import pytest

from opslayer.adapters.chat.agent_commands import COMMAND_WORDS
from opslayer.adapters.cli import main

APP_ID = "6f1d3c1e-2b7a-4c59-9a63-0d2f7f1f4b10"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_package_holds_the_manifest_and_icons_at_its_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "app.zip"
    assert main(["teams", "package", "--app-id", APP_ID, "--output", str(output)]) == 0
    assert "Upload an app" in capsys.readouterr().out
    with zipfile.ZipFile(output) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        color, outline = package.read("color.png"), package.read("outline.png")
    assert _png_size(color) == (192, 192) and _png_size(outline) == (32, 32)
    assert outline[25] == 6  # RGBA: the outline icon is transparent around the mark
    assert manifest["id"] == APP_ID and manifest["manifestVersion"] == "1.22"
    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID and set(bot["scopes"]) == {"personal", "team", "groupChat"}
    listed = {
        c["title"].removeprefix("agent ").split()[0]
        for commands in bot["commandLists"]
        for c in commands["commands"]
    }
    assert listed == set(COMMAND_WORDS)  # the menu offers exactly what the bot understands
    assert all(
        len(c["title"]) <= 32 and len(c["description"]) <= 128
        for commands in bot["commandLists"]
        for c in commands["commands"]
    )


def test_package_refuses_a_missing_or_malformed_app_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MicrosoftAppId", raising=False)
    monkeypatch.delenv("MICROSOFT_APP_ID", raising=False)
    output = tmp_path / "app.zip"
    assert main(["teams", "package", "--output", str(output)]) == 2
    assert "--app-id" in capsys.readouterr().err
    assert main(["teams", "package", "--app-id", "my-bot", "--output", str(output)]) == 2
    assert "not a Microsoft App ID" in capsys.readouterr().err
    assert not output.exists()
