"""`opslayer teams package`: the zip to upload to Teams (manifest with the app id, two icons)."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests" / "teams"
FILES = ("manifest.json", "color.png", "outline.png")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class PackageError(Exception):
    """Why the package cannot be built, and what to do about it."""


def build_package(app_id: str, output: Path, *, source: Path = MANIFESTS) -> dict[str, object]:
    """Write the app package to `output`; returns the manifest it holds."""
    if not _GUID.match(app_id):
        raise PackageError(
            f"{app_id!r} is not a Microsoft App ID (a GUID such as "
            "00000000-0000-0000-0000-000000000000): copy it from the Azure Bot's Configuration"
        )
    missing = [name for name in FILES if not (source / name).is_file()]
    if missing:
        raise PackageError(f"{source} lacks {', '.join(missing)}; pass --from a manifests/teams")
    text = (source / "manifest.json").read_text().replace("{{MICROSOFT_APP_ID}}", app_id)
    manifest: dict[str, object] = json.loads(text)
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2))
        for icon in FILES[1:]:
            package.write(source / icon, icon)  # at the root of the zip, as Teams wants
    return manifest
