"""The cost model (benchmarks/cost.py): counts read from the ASL, CDK, Chalice config and domain code,
its arithmetic on a hand-computed case, and a clear error for every missing figure."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from benchmarks import cost
from benchmarks.cost import (
    ASL_FILE,
    CDK_STACK,
    COUNTED_PORT_CALLS,
    PRICES,
    MissingFigureError,
    Price,
    Results,
    chalice_memory_mb,
    count_states,
    lambda_billed_seconds,
    markdown_tables,
    mediaconvert_minutes,
    newest_results,
    run_cost_model,
    voice_memory_mb,
)

PROJECT = Path(cost.__file__).resolve().parents[1]


# --------------------------------------------------------------------------- a results set to compute by hand


def _minimal_results(directory: Path, date: str = "2026-12-01") -> dict[str, dict[str, Any]]:
    """Exactly the figures the model reads, with numbers easy to follow by hand."""

    def case(segments: int, rungs: int) -> dict[str, Any]:
        return {
            "segments_reencoded": segments,
            "rungs_reencoded": rungs,
            "ours": {
                "phases_mean_seconds": {"prepare_seconds": 0.1, "publish_seconds": 0.1},
                "previews_seconds": {"mean": 0.3},
                "new_bytes_per_prospect": {"mean": 1024**3},  # 1 GiB
            },
            "naive_full_reencode": {"new_bytes_per_prospect": {"mean": 2 * 1024**3}},
        }

    figures: dict[str, dict[str, Any]] = {
        "render": {
            "base": {
                "seconds": 120.0,
                "source": "1280x720 30 fps H.264/AAC",
                "renditions": ["main_360p.m3u8", "main_480p.m3u8", "main_720p.m3u8"],
                "ladder_bytes": 1000 * 1024**3,  # 1 GiB per prospect once shared by 1,000
            },
            "audio_only": case(1, 0),
            "overlay": case(1, 3),
        },
        "voice": {"ours": {"seconds_per_name": {"median": 0.2775}}},
        "import": {"ours": {"importer_cpu_seconds": 5.0, "rows": 10_000}},
        "analytics": {
            "page_weight": {"total_gzip_bytes": 7_000, "hls_js_gzip_bytes": 190_000},
            "campaign": {"events": 50_000, "funnel": {"sent": 1_000}},
            "layout": {"bytes": 600_000, "events": 1_000},
        },
        "campaign": {
            "ours": {
                "phases_seconds": {"in_flight": {"mean": 20.0}},
                "cpu_seconds_per_prospect": {"process": 2.0},
            }
        },
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in figures.items():
        (directory / f"{name}-{date}.json").write_text(json.dumps(data))
    return figures


def _only(**usd: float) -> dict[str, Price]:
    """Every price zero except those given."""
    return {name: Price(usd.get(name, 0.0), p.unit, p.source) for name, p in PRICES.items()}


# --------------------------------------------------------------------------- counted from the code


def test_the_render_machine_is_counted_from_its_asl() -> None:
    counts = count_states(ASL_FILE)
    assert counts.per_prospect.states == [
        "Begin",
        "ShouldRender",
        "Synthesize",
        "Render",
        "Publish",
        "Rendered",
    ]
    assert counts.per_prospect.transitions == 6
    assert counts.per_prospect.lambda_functions == [
        "begin_prospect",
        "voice",
        "render_prospect",
        "publish_prospect",
    ]
    assert counts.per_prospect.waits_for_task_token
    assert counts.per_prospect.longest_timeout_seconds == 3600
    assert counts.per_batch.states == ["PrepareBatch", "HowToMap", "RenderInline", "Finalize"]
    assert (counts.map_state, counts.map_mode) == ("RenderInline", "INLINE")


def _with_state_after_publish(tmp_path: Path) -> Path:
    machine = json.loads(ASL_FILE.read_text())
    states = machine["States"]["RenderInline"]["ItemProcessor"]["States"]
    states["Publish"]["Next"] = "Notify"
    states["Notify"] = {"Type": "Pass", "Next": "Rendered"}
    copy = tmp_path / "render_campaign.asl.json"
    copy.write_text(json.dumps(machine))
    return copy


def test_a_state_added_to_a_copy_of_the_asl_is_one_more_transition_and_priced(tmp_path: Path) -> None:
    # GIVEN a copy of the ASL with a Pass state between Publish and Rendered
    copy = _with_state_after_publish(tmp_path)
    # THEN it is counted, and priced at one more transition per prospect
    assert count_states(copy).per_prospect.transitions == 7
    results = tmp_path / "results"
    _minimal_results(results)
    prices = _only(sfn_standard_transition=1.0)
    before = run_cost_model(Results.newest(results), prices=prices)
    after = run_cost_model(Results.newest(results), prices=prices, asl_file=copy)
    line = "ours", "audio_only/basic", "lines", "step_functions", "usd"
    assert _at(after, line) - _at(before, line) == pytest.approx(1.0)


def _at(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = result
    for key in path:
        value = value[key]
    return value


def test_the_voice_function_memory_is_read_from_the_cdk_stack(tmp_path: Path) -> None:
    assert voice_memory_mb(CDK_STACK) == 3008
    copy = tmp_path / "stack.py"
    copy.write_text(CDK_STACK.read_text().replace("memory_size=3008", "memory_size=1536"))
    assert voice_memory_mb(copy) == 1536


def test_chalice_functions_get_the_configs_memory_else_chalices_default(tmp_path: Path) -> None:
    from chalice.constants import DEFAULT_LAMBDA_MEMORY_SIZE

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"version": "2.0", "stages": {"prod": {}}}))
    assert chalice_memory_mb("publish_prospect", config) == DEFAULT_LAMBDA_MEMORY_SIZE
    config.write_text(
        json.dumps(
            {
                "lambda_memory_size": 256,
                "stages": {
                    "prod": {
                        "lambda_memory_size": 512,
                        "lambda_functions": {"publish_prospect": {"lambda_memory_size": 1024}},
                    }
                },
            }
        )
    )
    assert chalice_memory_mb("publish_prospect", config) == 1024
    assert chalice_memory_mb("begin_prospect", config) == 512
    assert chalice_memory_mb("begin_prospect", config, stage="dev") == 256


def test_the_request_table_was_counted_from_the_calls_the_render_steps_make() -> None:
    """STEP_REQUESTS counts the DynamoDB/S3 requests of these calls: a new one must be counted too."""
    calls: set[str] = set()
    for module in ("prospects.py", "common.py"):
        tree = ast.parse((PROJECT / "chalicelib" / "domain" / "render" / module).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                chain = ast.unparse(node.func)
                if re.fullmatch(r"ports\.\w+\.\w+", chain):
                    calls.add(chain)
    assert calls == COUNTED_PORT_CALLS


# --------------------------------------------------------------------------- arithmetic


def test_billing_rules() -> None:
    assert mediaconvert_minutes(2) == pytest.approx(10 / 60)  # the 10 s minimum per output
    assert mediaconvert_minutes(12.2) == pytest.approx(13 / 60)  # then by the second
    # below one vCPU (1,769 MB) CPU-bound work takes proportionally longer; billed per ms
    assert lambda_billed_seconds(0.1, 128) == pytest.approx(1.383)
    assert lambda_billed_seconds(0.2775, 3008) == pytest.approx(0.278)


def test_a_hand_computed_video(tmp_path: Path) -> None:
    # GIVEN round prices for a few services and nothing for the rest
    _minimal_results(tmp_path)
    prices = _only(sfn_standard_transition=1.0, mediaconvert_basic_audio=60.0, s3_storage=1.0)
    result = run_cost_model(Results.newest(tmp_path), prices=prices)
    ours = result["ours"]["audio_only/basic"]
    lines = {k: v["usd"] for k, v in ours["lines"].items()}
    # 6 transitions per prospect + 4 per batch shared by 1,000
    assert lines["step_functions"] == pytest.approx(6.004)
    # one 2 s audio output billed 10 s at $1 a second
    assert lines["mediaconvert_window"] == pytest.approx(10.0)
    # the base's audio rendition and WAV, 120 s each, once per 1,000 prospects (rungs cost 0 here)
    assert lines["mediaconvert_base_share"] == pytest.approx(0.24)
    # 1 GiB for 3 months; and the base's 1 GiB share for 3 months
    assert lines["s3_storage"] == pytest.approx(3.0)
    assert lines["s3_storage_base_share"] == pytest.approx(3.0)
    assert ours["usd_per_video"] == pytest.approx(6.004 + 10 + 0.24 + 3 + 3)
    assert ours["usd_per_1000"] == pytest.approx(1000 * ours["usd_per_video"])
    assert ours["dominant"] == "mediaconvert_window"
    # the naive re-render: the whole ladder's audio output, 120 s per prospect, and 2 GiB × 3 months
    naive = {k: v["usd"] for k, v in result["naive_full_rerender"]["audio_only/basic"]["lines"].items()}
    assert naive["mediaconvert_full"] == pytest.approx(120.0)
    assert naive["s3_storage"] == pytest.approx(6.0)
    assert result["target"]["met_render"] is False


def test_a_name_card_bills_every_rung_at_its_resolution_tier(tmp_path: Path) -> None:
    _minimal_results(tmp_path)
    prices = _only(mediaconvert_basic_sd=6.0, mediaconvert_basic_hd=60.0, mediaconvert_basic_audio=600.0)
    result = run_cost_model(Results.newest(tmp_path), prices=prices)
    window = result["ours"]["overlay/basic"]["lines"]["mediaconvert_window"]
    # 360p and 480p are SD, 720p HD, plus the audio: four outputs of 10 s (the minimum)
    assert window["usd"] == pytest.approx((6 + 6 + 60 + 600) / 6)
    assert window["quantity"] == pytest.approx(4 * 10 / 60)


def test_delivery_follows_the_views_and_the_ladder(tmp_path: Path) -> None:
    _minimal_results(tmp_path)
    result = run_cost_model(Results.newest(tmp_path), prices=_only(cloudfront_gb=1.0))
    line = result["delivery_per_video"]["lines"]["cloudfront"]
    # 1.5 views × (197,000 B page + 60 s × (3.0 Mb/s top rung + 128 kb/s audio) / 8)
    expected = 1.5 * (197_000 + 60 * (3_000_000 + 128_000) / 8) / 1024**3
    assert line["usd"] == pytest.approx(expected, rel=1e-5)


def test_express_would_be_cheaper_and_the_asl_says_why_it_is_not_used(tmp_path: Path) -> None:
    _minimal_results(tmp_path)
    express = run_cost_model(Results.newest(tmp_path))["step_functions_express"]
    assert express["express_is_cheaper"] is True
    assert any("waitForTaskToken" in why for why in express["why_standard"])


# --------------------------------------------------------------------------- the results read


def test_the_newest_result_of_each_benchmark_is_read(tmp_path: Path) -> None:
    _minimal_results(tmp_path, "2026-11-22")
    newer = tmp_path / "render-2026-12-07.json"
    newer.write_text((tmp_path / "render-2026-11-22.json").read_text())
    (tmp_path / "notes.json").write_text("{}")
    found = newest_results(tmp_path)
    assert found["render"] == newer
    assert found["voice"].name == "voice-2026-11-22.json"
    assert set(found) == {"render", "voice", "import", "analytics", "campaign"}


def test_a_missing_result_file_names_the_benchmark_that_writes_it(tmp_path: Path) -> None:
    _minimal_results(tmp_path)
    (tmp_path / "voice-2026-12-01.json").unlink()
    with pytest.raises(MissingFigureError, match=r"no voice-YYYY-MM-DD\.json .*tailorcast bench voice"):
        run_cost_model(Results.newest(tmp_path))


def test_a_missing_figure_names_its_key_file_and_benchmark(tmp_path: Path) -> None:
    figures = _minimal_results(tmp_path)
    del figures["render"]["audio_only"]["ours"]["phases_mean_seconds"]["prepare_seconds"]
    (tmp_path / "render-2026-12-01.json").write_text(json.dumps(figures["render"]))
    with pytest.raises(MissingFigureError) as caught:
        run_cost_model(Results.newest(tmp_path))
    message = str(caught.value)
    assert "audio_only.ours.phases_mean_seconds.prepare_seconds" in message
    assert "render-2026-12-01.json" in message and "tailorcast bench render" in message


def test_a_figure_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    figures = _minimal_results(tmp_path)
    figures["voice"]["ours"]["seconds_per_name"]["median"] = None
    (tmp_path / "voice-2026-12-01.json").write_text(json.dumps(figures["voice"]))
    with pytest.raises(MissingFigureError, match="not a number"):
        run_cost_model(Results.newest(tmp_path))


def test_the_repositorys_results_give_a_complete_model() -> None:
    result = run_cost_model()
    assert set(result["results"]) >= {"render", "voice", "import", "analytics", "campaign"}
    for block in (*result["ours"].values(), *result["naive_full_rerender"].values()):
        assert block["usd_per_video"] == pytest.approx(
            sum(line["usd"] for line in block["lines"].values()), rel=1e-4
        )
    table = markdown_tables(result)
    assert "| step_functions |" in table and "Target ≤ $0.002" in table


# --------------------------------------------------------------------------- the command


def test_bench_cost_prints_the_markdown_or_says_what_is_missing(tmp_path: Path) -> None:
    from tailorcast_cli.main import app

    runner = CliRunner()
    done = runner.invoke(app, ["bench", "cost", "--markdown"])
    assert done.exit_code == 0, done.output
    assert "| mediaconvert_window |" in done.output
    shutil.copytree(PROJECT / "benchmarks" / "results", tmp_path / "results")
    for analytics in (tmp_path / "results").glob("analytics-*.json"):
        analytics.unlink()
    missing = runner.invoke(app, ["bench", "cost", "--results", str(tmp_path / "results")])
    assert missing.exit_code == 1
    assert "tailorcast bench analytics" in missing.output
