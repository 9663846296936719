"""The cloud cost of one personalized video, and of 1,000, at AWS list prices (issue 17, item 6).

Not a benchmark that measures anything itself: it reads the newest ``benchmarks/results/*.json``
of each benchmark, counts from the code what one prospect's render uses in the cloud, and prices
it. Every number in the output is one of:

* **measured** — a figure from a benchmark's results (the file and the key are named);
* **counted** — read from the code: the render state machine's states (ASL), the functions' memory
  (CDK and the Chalice config), the ladder's rungs and bitrates, the player's beacon interval, and
  the DynamoDB and S3 requests of each step (the table :data:`STEP_REQUESTS`, read from the
  functions it names; a test fails when those functions start calling something it does not list);
* **assumed** — a named entry of :data:`ASSUMPTIONS`, with why;
* **a price** — an entry of :data:`PRICES`, entered by hand from AWS's public price lists as of
  :data:`PRICES_AS_OF` (no network here): re-check them before quoting a figure.

A figure the model needs and the results lack raises :class:`MissingFigureError`, naming the key
and the benchmark that writes it; nothing is filled in.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[1]
RESULTS_DIR = PROJECT_DIR / "benchmarks" / "results"
ASL_FILE = PROJECT_DIR / "state_machines" / "render_campaign.asl.json"
CDK_STACK = PROJECT_DIR / "infrastructure" / "cdk" / "tailorcast_stack.py"
CHALICE_CONFIG = PROJECT_DIR / ".chalice" / "config.json"
PLAYER_JS = PROJECT_DIR / "web" / "src" / "player.js"
#: The stage whose Chalice settings size the functions.
STAGE = "prod"
#: The issue's target for one personalized video.
TARGET_USD_PER_VIDEO = 0.002

GIB = 1024**3
TIB = 1024**4
MIB = 1024**2

# --------------------------------------------------------------------------- prices

PRICES_AS_OF = "2026-12-07"
REGION = "us-east-1"
PRICE_NOTE = (
    "List prices for us-east-1 entered by hand from AWS's public pricing pages as remembered on "
    f"{PRICES_AS_OF} (no network access where this was written); free tiers, volume discounts, "
    "savings plans and taxes are left out. Re-check every entry against the page named with it "
    "before quoting a figure."
)


@dataclass(frozen=True)
class Price:
    """A list price: ``usd`` per one ``unit``, from the page ``source``."""

    usd: float
    unit: str
    source: str


_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_SFN = "https://aws.amazon.com/step-functions/pricing/"
_MC = "https://aws.amazon.com/mediaconvert/pricing/"
_S3 = "https://aws.amazon.com/s3/pricing/"
_DDB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_POLLY = "https://aws.amazon.com/polly/pricing/"
_CF = "https://aws.amazon.com/cloudfront/pricing/"
_APIGW = "https://aws.amazon.com/api-gateway/pricing/"
_FIREHOSE = "https://aws.amazon.com/firehose/pricing/"
_ATHENA = "https://aws.amazon.com/athena/pricing/"

PRICES: dict[str, Price] = {
    # Lambda, x86 (every function here is x86_64), first pricing tier.
    "lambda_gb_second": Price(0.0000166667, "GB-second", _LAMBDA),
    "lambda_request": Price(0.20 / 1e6, "request", _LAMBDA),
    # Step Functions: Standard per state transition; Express per request + duration.
    "sfn_standard_transition": Price(0.025 / 1000, "state transition", _SFN),
    "sfn_express_request": Price(1.00 / 1e6, "request", _SFN),
    "sfn_express_gb_second": Price(0.00001667, "GB-second", _SFN),
    # MediaConvert on-demand, AVC ≤ 30 fps single pass, per minute of each output (first volume
    # tier). SD is below 720 lines, HD 720–1080. The audio-only rate is the least certain entry.
    "mediaconvert_basic_sd": Price(0.0075, "output minute", _MC),
    "mediaconvert_basic_hd": Price(0.015, "output minute", _MC),
    "mediaconvert_basic_audio": Price(0.003, "output minute", _MC),
    "mediaconvert_professional_sd": Price(0.012, "output minute", _MC),
    "mediaconvert_professional_hd": Price(0.024, "output minute", _MC),
    "mediaconvert_professional_audio": Price(0.003, "output minute", _MC),
    # S3 Standard: storage (first 50 TB), PUT/COPY/POST/LIST, GET.
    "s3_storage": Price(0.023, "GB-month", _S3),
    "s3_put": Price(0.005 / 1000, "PUT, COPY, POST or LIST request", _S3),
    "s3_get": Price(0.0004 / 1000, "GET request", _S3),
    # DynamoDB on-demand (the table is PAY_PER_REQUEST).
    "dynamodb_write": Price(0.625 / 1e6, "write request unit", _DDB),
    "dynamodb_read": Price(0.125 / 1e6, "read request unit", _DDB),
    # Polly: the adapter asks for the neural engine first.
    "polly_neural": Price(16.00 / 1e6, "character", _POLLY),
    "polly_standard": Price(4.00 / 1e6, "character", _POLLY),
    # CloudFront: data out to viewers in North America (first 10 TB) and HTTPS requests.
    "cloudfront_gb": Price(0.085, "GB out", _CF),
    "cloudfront_request": Price(0.0100 / 10_000, "HTTPS request", _CF),
    # API Gateway REST API (Chalice deploys a REST API), first 333 million a month.
    "api_gateway_request": Price(3.50 / 1e6, "request", _APIGW),
    # Firehose Direct PUT ingestion (first 500 TB a month), per GB after rounding each record.
    "firehose_gb": Price(0.029, "GB ingested", _FIREHOSE),
    # Athena SQL queries, per TB scanned.
    "athena_tb": Price(5.00, "TB scanned", _ATHENA),
}

# Billing rules from the same pages.
#: MediaConvert bills each output's duration by the second, with a 10 s minimum per output.
MEDIACONVERT_MIN_OUTPUT_SECONDS = 10
#: Outputs with fewer lines than this are SD; HD up to 1080.
MEDIACONVERT_HD_LINES = 720
#: Firehose rounds every record up to the next 5 KB.
FIREHOSE_RECORD_BYTES = 5 * 1024
#: Athena charges at least 10 MB per query.
ATHENA_MIN_QUERY_BYTES = 10 * MIB
#: Lambda allocates CPU in proportion to memory: 1,769 MB is one vCPU.
LAMBDA_MB_PER_VCPU = 1769
#: Express workflows bill memory in 64 MB steps (64 MB at least) and time in 100 ms steps.
EXPRESS_MIN_MB = 64
EXPRESS_BILLING_SECONDS = 0.1

# --------------------------------------------------------------------------- assumptions


@dataclass(frozen=True)
class Assumption:
    value: float
    unit: str
    why: str


ASSUMPTIONS: dict[str, Assumption] = {
    "campaign_prospects": Assumption(
        1000, "prospects", "the batch and campaign size that per-batch and per-campaign costs are shared by"
    ),
    "retention_months": Assumption(
        3, "months", "how long a prospect's media stays stored (an outreach campaign's useful life)"
    ),
    "views_per_video": Assumption(1.5, "views", "people who play a personalized video, on average"),
    "watched_fraction": Assumption(0.5, "of the video", "how much of the video a view plays, on average"),
    "io_step_seconds": Assumption(
        0.1,
        "s billed",
        "a Lambda call that only reads and writes DynamoDB or S3 (Begin, a MediaConvert event, the watch "
        "page, a beacon): no benchmark times one alone",
    ),
    "job_events_per_render": Assumption(
        3,
        "events",
        "MediaConvert state changes per window job reaching media_job_events: PROGRESSING, "
        "INPUT_INFORMATION, COMPLETE (STATUS_UPDATE comes every 10 s, and the job is shorter)",
    ),
    "item_kb": Assumption(
        2,
        "KB",
        "size of each DynamoDB item written on the render path (the video item carries the Step "
        "Functions task token); reads stay under 4 KB",
    ),
    "name_characters": Assumption(
        6, "characters", "billed Polly characters per name (SSML tags are not billed)"
    ),
    "analytics_queries_per_campaign": Assumption(
        120, "queries", "campaign analytics opened about 4 times a day for 30 days (answers are cached 300 s)"
    ),
    "page_assets_per_view": Assumption(
        3, "requests", "the watch page's CSS, player JS and hls.js, fetched on a first view"
    ),
}

# --------------------------------------------------------------------------- peers


@dataclass(frozen=True)
class Peer:
    name: str
    plan: str
    usd_per_month: float | None
    per: str
    videos_per_month: float | None  # personalized videos (or minutes, see ``unit``) the plan includes
    unit: str
    note: str


PEERS_AS_OF = "2026-12-07"
PEER_NOTE = "published list price as recalled; verify"
PEERS: list[Peer] = [
    Peer(
        "Sendspark",
        "Business",
        39.0,
        "seat, billed yearly",
        None,
        "video",
        "AI-personalized (dynamic) videos are credits on higher plans; the number per plan is not recalled",
    ),
    Peer("BHuman", "(not recalled)", None, "month", None, "video", "prices not recalled: look them up"),
    Peer(
        "Tavus",
        "Starter (API)",
        59.0,
        "month",
        10.0,
        "minute",
        "10 minutes of generated video a month; priced per minute of the base video",
    ),
    Peer(
        "Vidyard",
        "Plus",
        59.0,
        "seat, billed yearly",
        None,
        "video",
        "per-seat plans; no per-personalized-video price published as far as recalled",
    ),
]

# --------------------------------------------------------------------------- the results


class MissingFigureError(LookupError):
    """A figure the model needs is not in the benchmark results."""


#: Which command and module write each result file.
BENCHMARKS = {
    "render": ("tailorcast bench render --json", "benchmarks/render.py"),
    "campaign": ("tailorcast bench campaign --json", "benchmarks/campaign.py"),
    "voice": ("tailorcast bench voice --json", "benchmarks/voice.py"),
    "import": ("tailorcast bench import --json", "benchmarks/imports.py"),
    "analytics": ("tailorcast bench analytics --json", "benchmarks/analytics.py"),
}
_RESULT_NAME = re.compile(r"(?P<name>[a-z]+)-(?P<date>\d{4}-\d{2}-\d{2})\.json")


def newest_results(directory: Path = RESULTS_DIR) -> dict[str, Path]:
    """The newest result file of each benchmark, by the date in its name (``render-2026-11-22.json``)."""
    newest: dict[str, tuple[str, Path]] = {}
    for path in sorted(directory.glob("*.json")):
        found = _RESULT_NAME.fullmatch(path.name)
        if found and found["date"] >= newest.get(found["name"], ("", path))[0]:
            newest[found["name"]] = (found["date"], path)
    return {name: path for name, (_, path) in newest.items()}


class Results:
    """The benchmarks' figures; :meth:`figure` names what is missing, and where it comes from."""

    def __init__(self, files: Mapping[str, Path], directory: Path = RESULTS_DIR) -> None:
        self.files = dict(files)
        self.directory = directory
        self._loaded: dict[str, Any] = {}

    @classmethod
    def newest(cls, directory: Path = RESULTS_DIR) -> Results:
        return cls(newest_results(directory), directory)

    def _origin(self, bench: str) -> str:
        command, module = BENCHMARKS.get(bench, (f"tailorcast bench {bench}", f"benchmarks/{bench}.py"))
        return f"the {bench} benchmark (`{command}`, {module})"

    def _data(self, bench: str) -> Any:
        if bench not in self._loaded:
            path = self.files.get(bench)
            if path is None:
                raise MissingFigureError(
                    f"no {bench}-YYYY-MM-DD.json in {self.directory}: run {self._origin(bench)}"
                )
            self._loaded[bench] = json.loads(path.read_text())
        return self._loaded[bench]

    def _value(self, bench: str, key: str) -> Any:
        value: Any = self._data(bench)
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                raise MissingFigureError(
                    f"{key} is missing from {self.files[bench].name}: it is written by {self._origin(bench)}"
                )
            value = value[part]
        return value

    def figure(self, bench: str, key: str) -> float:
        """``key`` (dotted) of the newest ``bench`` result, as a number.

        Raises
        ------
        MissingFigureError
            No result of ``bench``, or no number at ``key`` in it (the message names both, and the
            command that writes it).
        """
        value = self._value(bench, key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MissingFigureError(f"{key} in {self.files[bench].name} is {value!r}, not a number")
        return float(value)

    def text(self, bench: str, key: str) -> str:
        return str(self._value(bench, key))

    def strings(self, bench: str, key: str) -> list[str]:
        value = self._value(bench, key)
        if not isinstance(value, list):
            raise MissingFigureError(f"{key} in {self.files[bench].name} is {value!r}, not a list")
        return [str(v) for v in value]


# --------------------------------------------------------------------------- counted from the code


@dataclass(frozen=True)
class StatePath:
    """The states one pass through a state machine (or a Map's item processor) enters."""

    states: list[str]
    lambda_functions: list[str]  # the function each Lambda task on the path invokes
    waits_for_task_token: bool
    longest_timeout_seconds: int

    @property
    def transitions(self) -> int:
        # Standard workflows bill every state entered, Choice and Succeed included.
        return len(self.states)


def _function_name(resource_arn: str) -> str:
    """``${BeginProspectFunctionArn}`` → ``begin_prospect`` (the inverse of the ASL loader's naming)."""
    found = re.fullmatch(r"\$\{([A-Za-z0-9]+)FunctionArn\}", resource_arn)
    if not found:
        raise ValueError(f"a Lambda task names {resource_arn!r}, not a ${{…FunctionArn}} placeholder")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", found[1]).lower()


def happy_path(machine: Mapping[str, Any]) -> StatePath:
    """Follow ``machine`` from ``StartAt`` the way a successful render goes: every ``Next``, a Choice's
    first rule (the render branch in our machines), no Retry and no Catch, until a terminal state."""
    states: Mapping[str, Any] = machine["States"]
    path: list[str] = []
    functions: list[str] = []
    waits, timeout = False, 0
    name: str | None = machine["StartAt"]
    while name is not None:
        if name in path:
            raise ValueError(f"the happy path loops at {name!r}")
        state = states[name]
        path.append(name)
        resource = str(state.get("Resource", ""))
        if state["Type"] == "Task" and resource.startswith("arn:aws:states:::lambda:invoke"):
            functions.append(_function_name(state["Parameters"]["FunctionName"]))
            waits = waits or resource.endswith(".waitForTaskToken")
            timeout = max(timeout, int(state.get("TimeoutSeconds", 0)))
        if state["Type"] == "Choice":
            name = state["Choices"][0]["Next"]
        elif state["Type"] in ("Succeed", "Fail") or state.get("End"):
            name = None
        else:
            name = state["Next"]
    return StatePath(path, functions, waits, timeout)


@dataclass(frozen=True)
class MachineCounts:
    per_batch: StatePath  # the outer machine, Map state included
    per_prospect: StatePath  # one item of the Map the happy path enters
    map_state: str
    map_mode: str


def count_states(asl_file: Path = ASL_FILE) -> MachineCounts:
    """The render machine's transitions per batch and per prospect, from its ASL."""
    machine = json.loads(asl_file.read_text())
    outer = happy_path(machine)
    maps = [n for n in outer.states if machine["States"][n]["Type"] == "Map"]
    if len(maps) != 1:
        raise ValueError(f"the happy path enters {len(maps)} Map states; the model expects one")
    processor = machine["States"][maps[0]]["ItemProcessor"]
    return MachineCounts(
        per_batch=outer,
        per_prospect=happy_path(processor),
        map_state=maps[0],
        map_mode=str(processor.get("ProcessorConfig", {}).get("Mode", "INLINE")),
    )


def voice_memory_mb(stack_file: Path = CDK_STACK) -> int:
    """The voice function's ``memory_size`` in the CDK stack's ``_voice_function``."""
    tree = ast.parse(stack_file.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "_voice_function":
            for call in ast.walk(node):
                if isinstance(call, ast.Call):
                    for kw in call.keywords:
                        value = kw.value.value if isinstance(kw.value, ast.Constant) else None
                        if kw.arg == "memory_size" and isinstance(value, int):
                            return value
    raise ValueError(f"no memory_size= in _voice_function of {stack_file}")


def chalice_memory_mb(function: str, config_file: Path = CHALICE_CONFIG, stage: str = STAGE) -> int:
    """A Chalice function's memory as ``chalice package`` sizes it: the function's setting in the
    stage, the stage's, the top level's, else Chalice's own default."""
    from chalice.constants import DEFAULT_LAMBDA_MEMORY_SIZE

    config = json.loads(config_file.read_text())
    stage_config = config.get("stages", {}).get(stage, {})
    for scope in (
        stage_config.get("lambda_functions", {}).get(function, {}),
        stage_config,
        config.get("lambda_functions", {}).get(function, {}),
        config,
    ):
        if "lambda_memory_size" in scope:
            return int(scope["lambda_memory_size"])
    return int(DEFAULT_LAMBDA_MEMORY_SIZE)


def memory_mb(function: str, stack_file: Path = CDK_STACK, config_file: Path = CHALICE_CONFIG) -> int:
    """Memory of a function the state machine invokes: the voice function is the stack's own, the
    others are Chalice's."""
    if function == "voice":
        return voice_memory_mb(stack_file)
    return chalice_memory_mb(function, config_file)


def heartbeat_seconds(player_js: Path = PLAYER_JS) -> float:
    """The watch page's beacon interval (``HEARTBEAT_MS`` in the player)."""
    found = re.search(r"HEARTBEAT_MS\s*=\s*(\d+)", player_js.read_text())
    if not found:
        raise ValueError(f"no HEARTBEAT_MS in {player_js}")
    return int(found[1]) / 1000


@dataclass(frozen=True)
class StepRequests:
    """DynamoDB and S3 requests of one step on the happy path, counted by reading ``source``.

    ``reads`` are consistent GetItem/Query calls (1 RRU each under 4 KB); ``writes`` plain
    Put/UpdateItem items, ``transact_items`` items of a TransactWriteItems (2 WRU per KB each)."""

    reads: int
    writes: int
    transact_items: int
    s3_puts: int
    s3_gets: int
    source: str


#: Per step of the audio-only render (the product's default: no name card). A card adds the rungs'
#: playlists and segments (see :func:`card_extra_requests`).
STEP_REQUESTS: dict[str, StepRequests] = {
    "begin_prospect": StepRequests(
        reads=4,  # _video: videos.get; batches.get: batch + counters items; _transition: videos.get
        writes=0,
        transact_items=3,  # _transition → videos.move: video, batch counters (queued→in_progress), prospect
        s3_puts=0,
        s3_gets=0,
        source="domain/render/prospects.py begin_prospect, common.py _transition, "
        "adapters/dynamodb/repositories/videos.py move, batches.py get",
    ),
    "voice": StepRequests(
        reads=3,  # owned_campaign: campaigns.get; prospects.get; lexicon.list (one query)
        writes=0,
        transact_items=0,
        s3_puts=1,  # the window audio WAV
        s3_gets=3,  # the base WAV's header, the slot's context, the room tone (byte ranges)
        source="tasks/voice.py synthesize, voice/service.py voice_names and BaseAudio",
    ),
    "render_prospect": StepRequests(
        reads=5,  # _video, campaigns.get, prospects.get, _transition's videos.get, _set_job's videos.get
        writes=1,  # _set_job: videos.update (version-checked put)
        transact_items=2,  # _transition: video + prospect (synthesizing→rendering: same counter)
        s3_puts=1,  # input/audio.wav (the span's audio)
        s3_gets=3,  # the voiced window audio; the base WAV's header and the span's bytes
        source="domain/render/prospects.py render_prospect, domain/media/__init__.py prepare_window",
    ),
    "mediaconvert_job": StepRequests(
        reads=0,
        writes=0,
        transact_items=0,
        s3_puts=4,  # the audio output: init segment, one segment, its playlist; the job's master
        s3_gets=2,  # the base video (clipped input) and input/audio.wav
        source="domain/media/jobs.py window_job (a CMAF group, one output per track)",
    ),
    "media_job_events": StepRequests(
        reads=2,  # per job: COMPLETE's _waiting_task reads the batch (batch + counters items)
        writes=0,
        transact_items=0,
        s3_puts=0,
        s3_gets=0,
        source="domain/render/prospects.py on_window_event (+ 1 videos.get per event, added per event)",
    ),
    "publish_prospect": StepRequests(
        reads=3,  # _video, _transition's videos.get, webhooks.publish: the account's endpoints (query)
        writes=0,
        transact_items=3,  # _transition: video, counters (in_progress→completed), prospect
        s3_puts=5,  # audio playlist, master, poster.jpg, preview.webp, preview.gif (+ 1 LIST: delete_prefix)
        s3_gets=7,  # base master, base + window audio playlists; again the master, a playlist, init, segment
        source="domain/render/prospects.py publish_prospect/complete_render, "
        "domain/media/__init__.py publish_render/publish_previews",
    ),
}
#: ``delete_prefix`` of the job's inputs lists them once (a LIST is billed as a PUT).
PUBLISH_LISTS = 1
#: The ``ports.<port>.<method>`` calls the render path's domain code makes today; what
#: :data:`STEP_REQUESTS` was counted from (tests/tooling/test_cost.py re-reads the code).
COUNTED_PORT_CALLS = frozenset(
    {
        "ports.videos.get",
        "ports.videos.update",
        "ports.videos.move",
        "ports.batches.get",
        "ports.campaigns.get",
        "ports.prospects.get",
        "ports.jobs.submit",
        "ports.jobs.status",
        "ports.callbacks.succeed",
        "ports.callbacks.fail",
        "ports.events.publish",
    }
)


def card_extra_requests(video_rungs: int) -> tuple[int, int]:
    """Extra S3 (PUTs, GETs) when the window re-encodes ``video_rungs`` video outputs too: the job
    writes each rung's init, segment and playlist; publish reads the base's and the window's
    playlist of each rung and writes the prospect's."""
    return video_rungs * 3 + video_rungs, video_rungs * 2


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Line:
    """One cost line for one video."""

    quantity: float
    unit: str
    usd: float
    basis: str  # measured · counted · assumed, as combined for this line
    detail: str

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["quantity"] = _round(self.quantity)
        out["usd"] = _round(self.usd)
        return out


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def _p(prices: Mapping[str, Price], name: str) -> float:
    return prices[name].usd


def lambda_billed_seconds(cpu_seconds: float, memory: int) -> float:
    """Billed duration of CPU-bound work timed on one core, run with ``memory`` MB: below one vCPU
    Lambda gives the function that share of a core, so the work takes proportionally longer."""
    seconds = cpu_seconds * max(1.0, LAMBDA_MB_PER_VCPU / memory)
    return math.ceil(seconds * 1000) / 1000  # billed by the millisecond


def mediaconvert_minutes(seconds: float) -> float:
    """Billed minutes of one output ``seconds`` long (per second, 10 s at least)."""
    return max(math.ceil(seconds), MEDIACONVERT_MIN_OUTPUT_SECONDS) / 60


@dataclass(frozen=True)
class Ladder:
    rung_heights: list[int]
    top_max_bitrate: int
    audio_bitrate: int
    segment_seconds: int


def ladder_of(results: Results) -> Ladder:
    """The render benchmark's ladder: its renditions (measured) with the code's bitrates."""
    from chalicelib.domain.media.ladder import AUDIO_BITRATE, SEGMENT_SECONDS, ladder_for

    names = results.strings("render", "base.renditions")
    heights = sorted(int(m[1]) for n in names if (m := re.search(r"_(\d+)p\.m3u8$", n)))
    source = re.search(r"(\d+)x(\d+)", results.text("render", "base.source"))
    if not source or not heights:
        raise MissingFigureError("the render benchmark's base.source/base.renditions name no size")
    rungs = ladder_for(int(source[1]), int(source[2]))
    top = max((r for r in rungs if min(r.width, r.height) <= max(heights)), key=lambda r: r.max_bitrate)
    return Ladder(heights, top.max_bitrate, AUDIO_BITRATE, SEGMENT_SECONDS)


def _mc_rate(prices: Mapping[str, Price], tier: str, height: int | None) -> float:
    if height is None:
        return _p(prices, f"mediaconvert_{tier}_audio")
    kind = "sd" if height < MEDIACONVERT_HD_LINES else "hd"
    return _p(prices, f"mediaconvert_{tier}_{kind}")


class CostModel:
    """Prices one personalized video from the results, the code's counts and the assumptions."""

    def __init__(
        self,
        results: Results,
        prices: Mapping[str, Price] = PRICES,
        assumptions: Mapping[str, Assumption] = ASSUMPTIONS,
        asl_file: Path = ASL_FILE,
        stack_file: Path = CDK_STACK,
        config_file: Path = CHALICE_CONFIG,
        player_js: Path = PLAYER_JS,
    ) -> None:
        self.r = results
        self.prices = prices
        self.assumptions = assumptions
        self.states = count_states(asl_file)
        self.memory = {
            f: memory_mb(f, stack_file, config_file)
            for f in {*self.states.per_prospect.lambda_functions, *self.states.per_batch.lambda_functions}
        }
        for extra in ("media_job_events", "ingest_upload", "api_handler"):
            self.memory[extra] = chalice_memory_mb(extra, config_file)
        self.heartbeat = heartbeat_seconds(player_js)
        self.ladder = ladder_of(results)

    def a(self, name: str) -> float:
        return self.assumptions[name].value

    def p(self, name: str) -> float:
        return _p(self.prices, name)

    # -- the render: orchestration, compute, encode, storage -----------------------------------

    def step_functions(self) -> Line:
        per = self.states.per_prospect.transitions
        batch = self.states.per_batch.transitions / self.a("campaign_prospects")
        n = per + batch
        return Line(
            n,
            "state transitions",
            n * self.p("sfn_standard_transition"),
            "counted",
            f"{per} per prospect ({' → '.join(self.states.per_prospect.states)}) + "
            f"{self.states.per_batch.transitions} per batch ÷ {self.a('campaign_prospects'):.0f}",
        )

    def step_seconds(self, case: str) -> dict[str, tuple[float, str]]:
        """Billed seconds of each Lambda call per prospect, and where the figure comes from."""
        io = self.a("io_step_seconds")
        prepare = self.r.figure("render", f"{case}.ours.phases_mean_seconds.prepare_seconds")
        publish = self.r.figure("render", f"{case}.ours.phases_mean_seconds.publish_seconds")
        previews = self.r.figure("render", f"{case}.ours.previews_seconds.mean")
        voice = self.r.figure("voice", "ours.seconds_per_name.median")
        measured = {
            "voice": (voice, "voice: ours.seconds_per_name.median"),
            "render_prospect": (prepare, f"render: {case} prepare_seconds"),
            "publish_prospect": (publish + previews, f"render: {case} publish_seconds + previews_seconds"),
        }
        out: dict[str, tuple[float, str]] = {}
        for function in self.states.per_prospect.lambda_functions:
            if function in measured:
                cpu, source = measured[function]
                out[function] = (lambda_billed_seconds(cpu, self.memory[function]), f"measured ({source})")
            else:
                out[function] = (io, "assumed (io_step_seconds)")
        out["media_job_events"] = (io * self.a("job_events_per_render"), "assumed (io_step_seconds × events)")
        return out

    def lambda_line(self, case: str) -> Line:
        seconds = self.step_seconds(case)
        gb_s = sum(s * self.memory[f] / 1024 for f, (s, _) in seconds.items())
        calls = len(self.states.per_prospect.lambda_functions) + self.a("job_events_per_render")
        batch_calls = len(self.states.per_batch.lambda_functions) / self.a("campaign_prospects")
        batch_gb_s = sum(
            self.a("io_step_seconds") * self.memory[f] / 1024 for f in self.states.per_batch.lambda_functions
        ) / self.a("campaign_prospects")
        usd = (gb_s + batch_gb_s) * self.p("lambda_gb_second") + (calls + batch_calls) * self.p(
            "lambda_request"
        )
        detail = "; ".join(f"{f} {s:.3f} s × {self.memory[f]} MB, {why}" for f, (s, why) in seconds.items())
        return Line(gb_s + batch_gb_s, "GB-s", usd, "measured + counted + assumed", detail)

    def import_line(self) -> Line:
        cpu = self.r.figure("import", "ours.importer_cpu_seconds") / self.r.figure("import", "ours.rows")
        mem = self.memory["ingest_upload"]
        gb_s = lambda_billed_seconds(cpu, mem) * mem / 1024
        wru = math.ceil(self.a("item_kb"))  # one BatchWriteItem item per prospect
        usd = gb_s * self.p("lambda_gb_second") + wru * self.p("dynamodb_write")
        return Line(
            gb_s,
            "GB-s",
            usd,
            "measured + counted",
            f"import: {cpu * 1000:.2f} ms CPU per row (import: ours.importer_cpu_seconds ÷ rows) "
            f"at {mem} MB, + {wru} WRU (one BatchWriteItem item)",
        )

    def mediaconvert_window(self, case: str, tier: str) -> Line:
        segments = self.r.figure("render", f"{case}.segments_reencoded")
        rungs = int(self.r.figure("render", f"{case}.rungs_reencoded"))
        seconds = segments * self.ladder.segment_seconds
        outputs: list[int | None] = [*self.ladder.rung_heights[:rungs], None]  # None: the audio output
        minutes = mediaconvert_minutes(seconds)
        usd = sum(minutes * _mc_rate(self.prices, tier, h) for h in outputs)
        names = ", ".join("audio" if h is None else f"{h}p" for h in outputs)
        return Line(
            minutes * len(outputs),
            "output minutes",
            usd,
            "measured + counted",
            f"{tier}: {len(outputs)} output(s) ({names}) of {seconds:.0f} s "
            f"({segments:.0f} segment(s), render: {case}.segments_reencoded), billed "
            f"{minutes * 60:.0f} s each (the {MEDIACONVERT_MIN_OUTPUT_SECONDS} s minimum)",
        )

    def base_outputs(self) -> list[int | None]:
        # every rung, the audio rendition and the WAV the renders read (an audio-only output)
        return [*self.ladder.rung_heights, None, None]

    def mediaconvert_base(self, tier: str) -> Line:
        """The base ladder, encoded once per campaign, shared by its prospects."""
        seconds = self.r.figure("render", "base.seconds")
        outputs = self.base_outputs()
        per_campaign = sum(mediaconvert_minutes(seconds) * _mc_rate(self.prices, tier, h) for h in outputs)
        n = self.a("campaign_prospects")
        return Line(
            mediaconvert_minutes(seconds) * len(outputs) / n,
            "output minutes",
            per_campaign / n,
            "measured + counted",
            f"{tier}: {len(outputs)} outputs × {seconds:.0f} s once per campaign ÷ {n:.0f}",
        )

    def mediaconvert_naive(self, tier: str) -> Line:
        seconds = self.r.figure("render", "base.seconds")
        outputs = [*self.ladder.rung_heights, None]
        usd = sum(mediaconvert_minutes(seconds) * _mc_rate(self.prices, tier, h) for h in outputs)
        return Line(
            mediaconvert_minutes(seconds) * len(outputs),
            "output minutes",
            usd,
            "measured + counted",
            f"{tier}: the whole ladder ({len(outputs)} outputs) × {seconds:.0f} s per prospect",
        )

    def storage(self, new_bytes: float, what: str) -> Line:
        gb_months = new_bytes / GIB * self.a("retention_months")
        return Line(
            gb_months,
            "GB-months",
            gb_months * self.p("s3_storage"),
            "measured + assumed",
            f"{new_bytes:,.0f} B ({what}) × {self.a('retention_months'):.0f} months",
        )

    def storage_ours(self, case: str) -> Line:
        return self.storage(
            self.r.figure("render", f"{case}.ours.new_bytes_per_prospect.mean"),
            f"render: {case}.ours.new_bytes_per_prospect.mean",
        )

    def storage_base(self) -> Line:
        line = self.storage(
            self.r.figure("render", "base.ladder_bytes") / self.a("campaign_prospects"),
            f"render: base.ladder_bytes ÷ {self.a('campaign_prospects'):.0f}",
        )
        return line

    def storage_naive(self, case: str) -> Line:
        return self.storage(
            self.r.figure("render", f"{case}.naive_full_reencode.new_bytes_per_prospect.mean"),
            f"render: {case}.naive_full_reencode.new_bytes_per_prospect.mean",
        )

    def s3_requests(self, case: str) -> Line:
        puts = sum(s.s3_puts for s in STEP_REQUESTS.values()) + PUBLISH_LISTS
        gets = sum(s.s3_gets for s in STEP_REQUESTS.values())
        rungs = int(self.r.figure("render", f"{case}.rungs_reencoded"))
        extra_puts, extra_gets = card_extra_requests(rungs)
        puts, gets = puts + extra_puts, gets + extra_gets
        return Line(
            puts + gets,
            "requests",
            puts * self.p("s3_put") + gets * self.p("s3_get"),
            "counted",
            f"{puts} PUT/LIST + {gets} GET (STEP_REQUESTS, {rungs} video rung(s) re-encoded)",
        )

    def s3_requests_naive(self) -> Line:
        seconds = self.r.figure("render", "base.seconds")
        outputs = len(self.ladder.rung_heights) + 1
        segments = math.ceil(seconds / self.ladder.segment_seconds)
        puts = outputs * (segments + 2) + 1  # segments, init and playlist per output; the master
        return Line(
            puts,
            "requests",
            puts * self.p("s3_put"),
            "counted",
            f"{outputs} outputs × ({segments} segments + init + playlist) + master, written per prospect",
        )

    def dynamodb(self) -> Line:
        events = self.a("job_events_per_render")
        reads = sum(s.reads for s in STEP_REQUESTS.values()) + events  # a videos.get per job event
        items = sum(s.writes + 2 * s.transact_items for s in STEP_REQUESTS.values())
        wru = items * math.ceil(self.a("item_kb"))
        return Line(
            reads + wru,
            "request units",
            reads * self.p("dynamodb_read") + wru * self.p("dynamodb_write"),
            "counted + assumed",
            f"{reads:.0f} RRU (consistent reads) + {wru:.0f} WRU (STEP_REQUESTS; items of "
            f"{self.a('item_kb'):.0f} KB, transactions at 2 WRU per KB)",
        )

    # -- the prospect's side: views, events, analytics ----------------------------------------

    def view_bytes(self) -> tuple[float, float]:
        """(page bytes, HLS bytes) of one view."""
        page = self.r.figure("analytics", "page_weight.total_gzip_bytes") + self.r.figure(
            "analytics", "page_weight.hls_js_gzip_bytes"
        )
        watched = self.r.figure("render", "base.seconds") * self.a("watched_fraction")
        hls = watched * (self.ladder.top_max_bitrate + self.ladder.audio_bitrate) / 8
        return page, hls

    def cloudfront(self) -> Line:
        page, hls = self.view_bytes()
        views = self.a("views_per_video")
        watched = self.r.figure("render", "base.seconds") * self.a("watched_fraction")
        segments = math.ceil(watched / self.ladder.segment_seconds) * 2  # video + audio
        requests = 1 + self.a("page_assets_per_view") + 3 + segments + self.beacons_per_view()
        gb = (page + hls) / GIB * views
        usd = gb * self.p("cloudfront_gb") + requests * views * self.p("cloudfront_request")
        return Line(
            gb,
            "GB out",
            usd,
            "measured + counted + assumed",
            f"{views} views × ({page:,.0f} B page + hls.js, analytics: page_weight; {hls:,.0f} B HLS: "
            f"{watched:.0f} s at the top rung's MaxBitrate {self.ladder.top_max_bitrate / 1e6:.1f} Mb/s + "
            f"audio, an upper bound) and {requests:.0f} requests",
        )

    def beacons_per_view(self) -> float:
        watched = self.r.figure("render", "base.seconds") * self.a("watched_fraction")
        return 1 + math.ceil(watched / self.heartbeat)  # the play, then a heartbeat every interval

    def api(self) -> Line:
        views = self.a("views_per_video")
        calls = views * (1 + self.beacons_per_view())  # the page, then its beacons
        mem = self.memory["api_handler"]
        gb_s = calls * self.a("io_step_seconds") * mem / 1024
        usd = calls * (self.p("api_gateway_request") + self.p("lambda_request")) + gb_s * self.p(
            "lambda_gb_second"
        )
        return Line(
            calls,
            "requests",
            usd,
            "counted + assumed",
            f"{views} views × (page + {self.beacons_per_view():.0f} beacons: a heartbeat every "
            f"{self.heartbeat:.0f} s, player.js) through API Gateway to the API Lambda ({mem} MB)",
        )

    def events_per_video(self) -> float:
        return self.r.figure("analytics", "campaign.events") / self.r.figure(
            "analytics", "campaign.funnel.sent"
        )

    def firehose(self) -> Line:
        size = self.r.figure("analytics", "layout.bytes") / self.r.figure("analytics", "layout.events")
        billed = math.ceil(size / FIREHOSE_RECORD_BYTES) * FIREHOSE_RECORD_BYTES
        events = self.events_per_video()
        gb = events * billed / GIB
        return Line(
            gb,
            "GB billed",
            gb * self.p("firehose_gb"),
            "measured",
            f"{events:.1f} events per sent video (analytics: campaign.events ÷ funnel.sent, synthetic) of "
            f"{size:.0f} B, each billed as {billed} B",
        )

    def athena(self) -> Line:
        size = self.r.figure("analytics", "layout.bytes") / self.r.figure("analytics", "layout.events")
        n = self.a("campaign_prospects")
        scanned = max(ATHENA_MIN_QUERY_BYTES, n * self.events_per_video() * size)
        queries = self.a("analytics_queries_per_campaign")
        tb = scanned * queries / TIB / n
        return Line(
            tb * TIB / GIB,
            "GB scanned",
            tb * self.p("athena_tb"),
            "measured + assumed",
            f"{queries:.0f} queries per campaign, each scanning {scanned / MIB:.1f} MB (the campaign's "
            f"events as JSON; 10 MB at least) ÷ {n:.0f} videos; one tenant only",
        )

    # -- the whole --------------------------------------------------------------------------

    def render_lines(self, case: str, tier: str) -> dict[str, Line]:
        return {
            "step_functions": self.step_functions(),
            "lambda": self.lambda_line(case),
            "mediaconvert_window": self.mediaconvert_window(case, tier),
            "mediaconvert_base_share": self.mediaconvert_base(tier),
            "s3_requests": self.s3_requests(case),
            "s3_storage": self.storage_ours(case),
            "s3_storage_base_share": self.storage_base(),
            "dynamodb": self.dynamodb(),
            "import": self.import_line(),
        }

    def naive_lines(self, case: str, tier: str) -> dict[str, Line]:
        lines = self.render_lines(case, tier)
        for shared in ("mediaconvert_window", "mediaconvert_base_share", "s3_storage_base_share"):
            del lines[shared]
        lines["mediaconvert_full"] = self.mediaconvert_naive(tier)
        lines["s3_storage"] = self.storage_naive(case)
        lines["s3_requests"] = self.s3_requests_naive()
        return lines

    def delivery_lines(self) -> dict[str, Line]:
        return {
            "cloudfront": self.cloudfront(),
            "api_watch_and_beacons": self.api(),
            "firehose": self.firehose(),
            "athena": self.athena(),
        }

    def express_comparison(self) -> dict[str, Any]:
        in_flight = self.r.figure("campaign", "ours.phases_seconds.in_flight.mean")
        billed = math.ceil(in_flight / EXPRESS_BILLING_SECONDS) * EXPRESS_BILLING_SECONDS
        express = self.p("sfn_express_request") + billed * EXPRESS_MIN_MB / 1024 * self.p(
            "sfn_express_gb_second"
        )
        standard = self.states.per_prospect.transitions * self.p("sfn_standard_transition")
        path = self.states.per_prospect
        reasons = []
        if path.waits_for_task_token:
            reasons.append(
                "the Render state waits on a task token (.waitForTaskToken), which Express does not support"
            )
        if path.longest_timeout_seconds > 300:
            reasons.append(
                f"a state may wait {path.longest_timeout_seconds} s; an Express execution ends at 5 minutes"
            )
        return {
            "standard_usd_per_prospect": _round(standard),
            "express_usd_per_prospect": _round(express),
            "express_is_cheaper": express < standard,
            "express_basis": f"1 request + {billed:.1f} s at {EXPRESS_MIN_MB} MB (campaign: "
            "ours.phases_seconds.in_flight.mean, the local stack's, pessimistic)",
            "why_standard": reasons or ["nothing in the ASL rules Express out"],
        }

    def lambda_upper_bound(self) -> Line:
        cpu = self.r.figure("campaign", "ours.cpu_seconds_per_prospect.process")
        gb_s = cpu * LAMBDA_MB_PER_VCPU / 1024
        return Line(
            gb_s,
            "GB-s",
            gb_s * self.p("lambda_gb_second"),
            "measured",
            f"all {cpu:.2f} CPU-s per prospect of the local stack's process (campaign: "
            "ours.cpu_seconds_per_prospect.process; moto's emulation included) as Lambda time at ≤ 1 vCPU",
        )

    def polly_alternative(self) -> Line:
        chars = self.a("name_characters")
        return Line(
            chars,
            "characters",
            chars * self.p("polly_neural"),
            "assumed",
            f"Polly neural (the adapter asks for it first) instead of piper in the voice Lambda; "
            f"standard engine ${chars * self.p('polly_standard'):.6f}; the voice Lambda still matches "
            "and splices",
        )


def _summary(lines: Mapping[str, Line]) -> dict[str, Any]:
    total = sum(line.usd for line in lines.values())
    dominant = max(lines, key=lambda k: lines[k].usd)
    return {
        "lines": {k: v.as_dict() for k, v in lines.items()},
        "usd_per_video": _round(total),
        "usd_per_1000": _round(total * 1000),
        "dominant": dominant,
        "dominant_share": round(lines[dominant].usd / total, 3) if total else 0.0,
    }


def _peers(model: CostModel) -> list[dict[str, Any]]:
    minutes = model.r.figure("render", "base.seconds") / 60
    out = []
    for peer in PEERS:
        per_video = None
        if peer.usd_per_month is not None and peer.videos_per_month:
            per_unit = peer.usd_per_month / peer.videos_per_month
            per_video = per_unit * minutes if peer.unit == "minute" else per_unit
        out.append(
            {
                **asdict(peer),
                "usd_per_video": None if per_video is None else _round(per_video),
                "as_of": PEERS_AS_OF,
                "status": PEER_NOTE,
            }
        )
    return out


CASES = ("audio_only", "overlay")
#: The lines the naive re-render computes its own way (the others are ours, unchanged).
NAIVE_OWN_LINES = ("mediaconvert_full", "s3_storage", "s3_requests")
TIERS = ("basic", "professional")
#: The product's default: no name card, the tier the job's settings fit (AVC, single pass, ≤ 30 fps,
#: clipping, static overlay: features the pricing page lists for the Basic tier).
HEADLINE = ("audio_only", "basic")


def run_cost_model(results: Results | None = None, **kwargs: Any) -> dict[str, Any]:
    """The cost model's JSON: ours (each case × tier), the naive re-render, the peers, the target."""
    results = results or Results.newest()
    model = CostModel(results, **kwargs)
    delivery = _summary(model.delivery_lines())
    ours: dict[str, Any] = {}
    naive: dict[str, Any] = {}
    for case in CASES:
        for tier in TIERS:
            ours[f"{case}/{tier}"] = _summary(model.render_lines(case, tier))
            naive[f"{case}/{tier}"] = _summary(model.naive_lines(case, tier))
    headline = ours["/".join(HEADLINE)]
    with_delivery = headline["usd_per_video"] + delivery["usd_per_video"]
    return {
        "benchmark": "cost",
        "prices_as_of": PRICES_AS_OF,
        "region": REGION,
        "price_note": PRICE_NOTE,
        "results": {
            k: str(v.relative_to(PROJECT_DIR)) if v.is_relative_to(PROJECT_DIR) else str(v)
            for k, v in sorted(results.files.items())
        },
        "counted_from_code": {
            "transitions_per_prospect": model.states.per_prospect.transitions,
            "states_per_prospect": model.states.per_prospect.states,
            "transitions_per_batch": model.states.per_batch.transitions,
            "states_per_batch": model.states.per_batch.states,
            "map": f"{model.states.map_state} ({model.states.map_mode})",
            "lambda_memory_mb": dict(sorted(model.memory.items())),
            "ladder_rungs": model.ladder.rung_heights,
            "top_rung_max_bitrate": model.ladder.top_max_bitrate,
            "audio_bitrate": model.ladder.audio_bitrate,
            "segment_seconds": model.ladder.segment_seconds,
            "beacon_interval_seconds": model.heartbeat,
            "step_requests": {k: asdict(v) for k, v in STEP_REQUESTS.items()},
        },
        "assumptions": {k: asdict(v) for k, v in model.assumptions.items()},
        "prices": {k: {"usd": v.usd, "unit": v.unit, "source": v.source} for k, v in model.prices.items()},
        "ours": ours,
        "naive_full_rerender": naive,
        "delivery_per_video": delivery,
        "step_functions_express": model.express_comparison(),
        "lambda_upper_bound": model.lambda_upper_bound().as_dict(),
        "polly_alternative": model.polly_alternative().as_dict(),
        "peers": _peers(model),
        "target": {
            "usd_per_video": TARGET_USD_PER_VIDEO,
            "headline": "/".join(HEADLINE),
            "render_usd_per_video": headline["usd_per_video"],
            "met_render": headline["usd_per_video"] <= TARGET_USD_PER_VIDEO,
            "dominant_render": headline["dominant"],
            "with_delivery_usd_per_video": _round(with_delivery),
            "met_with_delivery": with_delivery <= TARGET_USD_PER_VIDEO,
            "dominant_delivery": delivery["dominant"],
            "met_by_case": {k: v["usd_per_video"] <= TARGET_USD_PER_VIDEO for k, v in ours.items()},
            "naive_over_ours": (
                round(naive["/".join(HEADLINE)]["usd_per_video"] / headline["usd_per_video"], 1)
                if headline["usd_per_video"]
                else None
            ),
        },
        "not_modelled": [
            "CloudWatch Logs ingestion and X-Ray traces (every function logs and is traced; "
            "no volume measured)",
            "webhook deliveries (deliver_webhook executions: none when no endpoint is subscribed)",
            "EventBridge (MediaConvert's events to the default bus are free), KMS, Secrets Manager, Cognito",
            "the GIF's encode time: render-*.json times poster + WebP only (previews_seconds)",
            "posters and GIFs loaded by email clients (public, cached by CloudFront)",
            "free tiers and volume discounts",
        ],
    }


# --------------------------------------------------------------------------- markdown


def _usd(x: float) -> str:
    return f"${x:.6f}" if x < 0.01 else f"${x:,.4f}"


def markdown_tables(result: Mapping[str, Any]) -> str:
    """The doc's tables from :func:`run_cost_model`'s JSON."""
    ours, naive = result["ours"], result["naive_full_rerender"]
    head = "/".join(HEADLINE)
    columns = [("ours", k) for k in ours] + [("naive", f"{CASES[0]}/{tier}") for tier in TIERS]
    names: list[str] = []
    for who, k in columns:
        names += [n for n in (ours if who == "ours" else naive)[k]["lines"] if n not in names]
    out = [
        f"Prices: {result['region']}, as of {result['prices_as_of']} (re-check). Results: "
        + ", ".join(f"`{v}`" for v in result["results"].values())
        + ".",
        "",
        "| per video (USD) | " + " | ".join(f"{who} {k}" for who, k in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for name in names:
        cells = []
        for who, k in columns:
            lines = (ours if who == "ours" else naive)[k]["lines"]
            cells.append(_usd(lines[name]["usd"]) if name in lines else "—")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    for label, key in (("**render, per video**", "usd_per_video"), ("**render, per 1,000**", "usd_per_1000")):
        cells = [_usd((ours if who == "ours" else naive)[k][key]) for who, k in columns]
        out.append(f"| {label} | " + " | ".join(f"**{c}**" for c in cells) + " |")
    out.append(
        "| dominant line | "
        + " | ".join((ours if w == "ours" else naive)[k]["dominant"] for w, k in columns)
        + " |"
    )
    delivery = result["delivery_per_video"]
    out += [
        "",
        "| delivery per video (USD, same for every approach) | per video | per 1,000 |",
        "|---|---:|---:|",
    ]
    for name, line in delivery["lines"].items():
        out.append(f"| {name} | {_usd(line['usd'])} | {_usd(line['usd'] * 1000)} |")
    out.append(
        f"| **delivery** | **{_usd(delivery['usd_per_video'])}** | **{_usd(delivery['usd_per_1000'])}** |"
    )
    t = result["target"]
    out += [
        "",
        f"Target ≤ ${t['usd_per_video']} per personalized video ({head}): render "
        f"{_usd(t['render_usd_per_video'])} → **{'met' if t['met_render'] else 'not met'}** "
        f"(dominant: {t['dominant_render']}); with delivery {_usd(t['with_delivery_usd_per_video'])} → "
        f"**{'met' if t['met_with_delivery'] else 'not met'}** (dominant: {t['dominant_delivery']}). "
        f"The naive full re-render costs {t['naive_over_ours']}× ours to make.",
        "",
        "| peer | plan | USD per month | per | per video | status |",
        "|---|---|---:|---|---:|---|",
    ]
    for p in result["peers"]:
        month = "—" if p["usd_per_month"] is None else f"${p['usd_per_month']:,.2f}"
        video = "—" if p["usd_per_video"] is None else f"${p['usd_per_video']:,.2f}"
        out.append(
            f"| {p['name']} | {p['plan']} | {month} | {p['per']} | {video} | {p['status']}, {p['as_of']} |"
        )
    out += ["", f"| how each line is computed ({head}) | quantity | basis | from |", "|---|---:|---|---|"]
    naive_own = {f"naive: {k}": v for k, v in naive[head]["lines"].items() if k in NAIVE_OWN_LINES}
    for name, line in {**ours[head]["lines"], **naive_own, **delivery["lines"]}.items():
        out.append(f"| {name} | {line['quantity']:g} {line['unit']} | {line['basis']} | {line['detail']} |")
    out += ["", "| assumption | value | why |", "|---|---:|---|"]
    for name, a in result["assumptions"].items():
        out.append(f"| `{name}` | {a['value']:g} {a['unit']} | {a['why']} |")
    out += [
        "",
        f"| price ({result['region']}, {result['prices_as_of']}) | USD | per | page |",
        "|---|---:|---|---|",
    ]
    for name, price in result["prices"].items():
        usd = f"{price['usd']:.10f}".rstrip("0").rstrip(".")
        out.append(f"| `{name}` | {usd} | {price['unit']} | {price['source']} |")
    return "\n".join(out) + "\n"
