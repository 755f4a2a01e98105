"""Tests of the compliance tooling that need no wstest: case selection and the summary.

/work/venv/bin/python -m pytest compliance/test_summarize.py
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import run
import summarize

KNOWN = ["1.1.1", "1.1.2", "2.1", "6.4.1", "6.4.2", "7.1.6", "9.1.1", "10.1.1"]


def write_index(tmp_path: Path, cases: dict[str, tuple[str, str]]) -> Path:
    index = {
        "agent": {
            cid: {
                "behavior": beh,
                "behaviorClose": close,
                "duration": 5,
                "reportfile": f"{cid}.json",
            }
            for cid, (beh, close) in cases.items()
        }
    }
    (tmp_path / "index.json").write_text(json.dumps(index))
    for cid in cases:
        (tmp_path / f"{cid}.json").write_text(json.dumps({"description": f"case {cid}"}))
    return tmp_path


def status(
    path: Path, expected: list[str] | None = None, strict: bool = False, details: bool = False
) -> tuple[int, str]:
    out = io.StringIO()
    code = summarize.summarize(path, expected=expected, strict=strict, details=details, out=out)
    return code, out.getvalue()


def test_resolve_sections_subsections_and_ids() -> None:
    assert run.resolve("1", KNOWN) == ["1.1.1", "1.1.2"]
    assert run.resolve("1.*", KNOWN) == ["1.1.1", "1.1.2"]  # not 10.1.1
    assert run.resolve("6.4,7.1.6", KNOWN) == ["6.4.1", "6.4.2", "7.1.6"]
    assert run.resolve("*", KNOWN) == KNOWN


def test_resolve_rejects_unknown() -> None:
    with pytest.raises(run.SetupError, match="11"):
        run.resolve("11", KNOWN)


def test_all_ok_passes(tmp_path: Path) -> None:
    path = write_index(tmp_path, {"1.1.1": ("OK", "OK"), "7.1.6": ("INFORMATIONAL", "INFORMATIONAL")})
    code, text = status(path, expected=["1.1.1", "7.1.6"])
    assert code == 0
    assert "2 cases, 1 ok, 0 failed" in text


def test_failed_behavior_or_close_fails(tmp_path: Path) -> None:
    path = write_index(tmp_path, {"1.1.1": ("OK", "FAILED"), "2.1": ("FAILED", "OK")})
    code, text = status(path, details=True)
    assert code == 1
    assert "FAILED (1): 2.1" in text and "close FAILED (1): 1.1.1" in text
    assert "description: case 2.1" in text


def test_missing_cases_fail(tmp_path: Path) -> None:
    path = write_index(tmp_path, {"1.1.1": ("OK", "OK")})
    code, text = status(path, expected=["1.1.1", "1.1.2"])
    assert code == 1
    assert "1 MISSING" in text


def test_non_strict_and_unclean_fail_only_when_strict(tmp_path: Path) -> None:
    path = write_index(tmp_path, {"4.1.3": ("NON-STRICT", "OK"), "7.3.1": ("OK", "UNCLEAN")})
    assert status(path)[0] == 0
    assert status(path, strict=True)[0] == 1


def test_no_report_is_status_2(tmp_path: Path) -> None:
    assert status(tmp_path)[0] == 2
