"""``bench names``: the shipped list, and the figures from per-name rows (no engine: made-up rows)."""

from __future__ import annotations

from typing import Any

from benchmarks.names import NAMES_FILE, _case_figures, load_names
from chalicelib.domain.speech.names import sanitize_name


def test_the_list_is_500_distinct_speakable_names_with_its_source_beside_it() -> None:
    names = load_names()
    assert len(names) == 500
    assert len({n.lower() for n in names}) == 500
    assert all(sanitize_name(n).text == n and n.isalpha() for n in names)
    readme = (NAMES_FILE.parent / "README.md").read_text()
    assert "Security Administration" in readme and "public domain" in readme


def _row(name: str, seconds: float, *, old_fit: bool, fits: bool, **kw: Any) -> dict[str, Any]:
    row = {"name": name, "seconds": seconds, "old_fit": old_fit, "fits": fits, "heard_in_original": False}
    if fits:
        row |= {"wall_s": 0.2, "cpu_s": 0.1, "extension_s": 0.0, "f0_st": 0.5, "lu": 0.1, "click": 0.4}
        row |= {"heard": True}
    else:
        row["refusal"] = f"{name}: too long"
    return row | kw


def test_figures_count_fits_growth_refusals_and_the_old_rules() -> None:
    rows = [
        _row("Ann", 0.3, old_fit=True, fits=True),
        _row("Bartholomew", 0.9, old_fit=False, fits=True, extension_s=0.2, heard=False),
        _row("Maximiliano", 1.4, old_fit=False, fits=True, extension_s=0.5, f0_st=None, click=1.5),
        _row("Wolfeschlegel", 1.8, old_fit=False, fits=False),
    ]
    figures = _case_figures(rows)
    ours, old = figures["ours"], figures["baseline_old_fit"]
    assert figures["names_up_to_max"] == 3
    assert (ours["fit"], ours["fit_rate_up_to_max"], ours["grown"]) == (3, 1.0, 2)
    assert ours["extension_seconds"]["max"] == 0.5
    assert ours["refused"] == ["Wolfeschlegel: too long"]
    assert ours["f0_not_measurable"] == 1 and ours["within_quality_targets"] == 2
    assert (ours["heard_at_slot"], ours["heard_rate_grown"]) == (2, 0.5)
    assert (old["refused"], old["refusal_rate"], old["refusal_rate_up_to_max"]) == (3, 0.75, round(2 / 3, 4))


def test_rows_are_written_one_line_per_name_with_every_case(tmp_path: Any) -> None:
    import csv

    from benchmarks.names import write_rows

    rows = {
        "aligned": [
            _row("Ann", 0.3, old_fit=True, fits=True),
            _row("Wolfeschlegel", 1.8, old_fit=False, fits=False),
        ],
        "floor": [
            _row("Ann", 0.3, old_fit=True, fits=True),
            _row("Wolfeschlegel", 1.8, old_fit=False, fits=False),
        ],
    }
    write_rows(rows, tmp_path / "rows.csv")
    table = list(csv.DictReader((tmp_path / "rows.csv").open()))
    assert [r["name"] for r in table] == ["Ann", "Wolfeschlegel"]
    assert table[0]["aligned_fits"] == "True" and table[0]["floor_heard"] == "True"
    assert table[1]["floor_fits"] == "False" and table[1]["floor_extension_s"] == ""
