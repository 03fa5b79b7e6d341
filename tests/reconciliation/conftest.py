from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    for candidate in (REPO_ROOT.parent / "shared", Path("/work/shared")):
        if (candidate / "iso20022").is_dir():
            return candidate
    raise FileNotFoundError("shared/iso20022 not found next to the repository or in /work")


ISO = shared_dir() / "iso20022"
SAMPLES = ISO / "samples"
XSD = ISO / "xsd"


@pytest.fixture
def sample():
    def read(kind: str, name: str) -> bytes:
        return (SAMPLES / kind / name).read_bytes()

    return read
