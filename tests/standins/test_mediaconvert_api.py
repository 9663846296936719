"""The local MediaConvert stand-in, driven through boto3's real ``mediaconvert`` client."""

from __future__ import annotations

import copy
import http.client
import json
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devstack.mediaconvert import JobContext, JobError, MediaConvertStandIn, UnsupportedSettingsError, wire

ROLE = "arn:aws:iam::123456789012:role/MediaConvertRole"
ACCOUNT = "123456789012"
SETTINGS: dict[str, Any] = {
    "Inputs": [{"FileInput": "s3://b/in.mp4"}],
    "OutputGroups": [
        {
            "OutputGroupSettings": {
                "Type": "FILE_GROUP_SETTINGS",
                "FileGroupSettings": {"Destination": "s3://b/out/"},
            },
            "Outputs": [
                {
                    "ContainerSettings": {"Container": "MP4"},
                    "VideoDescription": {
                        "CodecSettings": {
                            "Codec": "H_264",
                            "H264Settings": {"RateControlMode": "QVBR", "MaxBitrate": 2000000},
                        }
                    },
                }
            ],
        }
    ],
}
OUTPUT_GROUP_DETAILS = [
    {
        "Type": "CMAF_GROUP",
        "PlaylistFilePaths": ["s3://b/out/index.m3u8"],
        "OutputDetails": [
            {
                "OutputFilePaths": ["s3://b/out/video_720.m3u8"],
                "DurationInMs": 12000,
                "VideoDetails": {"WidthInPx": 1280, "HeightInPx": 720},
            }
        ],
    }
]
WAIT = 10.0


class FakeExecutor:
    """Reports ``steps`` of progress and returns OUTPUT_GROUP_DETAILS.

    UserMetadata drives failures: ``fail`` → JobError, ``crash`` → RuntimeError. With ``gate`` set,
    ``run`` blocks until it opens or the job is cancelled.
    """

    def __init__(self, steps: tuple[int, ...] = (50, 100), gate: threading.Event | None = None) -> None:
        self.steps = steps
        self.gate = gate
        self.started = threading.Event()
        self.ran: list[str] = []
        self.saw_cancel: list[str] = []

    def validate(self, settings: dict[str, Any]) -> None:
        for group in settings["OutputGroups"]:
            for output in group["Outputs"]:
                container = output.get("ContainerSettings", {}).get("Container")
                if container != "MP4":
                    raise UnsupportedSettingsError(f"Container {container} is not supported")

    def run(self, job: JobContext) -> list[dict[str, Any]]:
        self.ran.append(job.job_id)
        self.started.set()
        if self.gate is not None:
            while not self.gate.wait(0.01):
                if job.cancelled():
                    self.saw_cancel.append(job.job_id)
                    return []
        if "fail" in job.user_metadata:
            raise JobError(1010, job.user_metadata["fail"])
        if "crash" in job.user_metadata:
            raise RuntimeError(job.user_metadata["crash"])
        for percent in self.steps:
            job.progress(percent, "TRANSCODING")
        return copy.deepcopy(OUTPUT_GROUP_DETAILS)


class PermissiveExecutor(FakeExecutor):
    """Accepts any settings (CMAF outputs included)."""

    def validate(self, settings: dict[str, Any]) -> None:
        pass


Factory = Callable[..., tuple[MediaConvertStandIn, list[dict[str, Any]]]]


@pytest.fixture
def make_standin() -> Iterator[Factory]:
    started: list[MediaConvertStandIn] = []

    def make(executor: FakeExecutor, **kwargs: Any) -> tuple[MediaConvertStandIn, list[dict[str, Any]]]:
        events: list[dict[str, Any]] = []
        standin = MediaConvertStandIn(executor, kwargs.pop("on_event", events.append), **kwargs)
        standin.start()
        started.append(standin)
        return standin, events

    yield make
    for standin in started:
        standin.stop(drain=False)


def client(standin: MediaConvertStandIn, validate: bool = True) -> Any:
    return boto3.client(
        "mediaconvert",
        endpoint_url=standin.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(parameter_validation=validate, retries={"max_attempts": 1}),
    )


def create(mc: Any, **kwargs: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"Role": ROLE, "Settings": SETTINGS, **kwargs}
    job: dict[str, Any] = mc.create_job(**params)["Job"]
    return job


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response: Any = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_describe_endpoints_returns_own_url(make_standin: Factory) -> None:
    standin, _ = make_standin(FakeExecutor())
    assert client(standin).describe_endpoints()["Endpoints"] == [{"Url": standin.url}]


def test_create_job_runs_to_complete(make_standin: Factory) -> None:
    standin, _ = make_standin(FakeExecutor())
    mc = client(standin)
    created = mc.create_job(Role=ROLE, Settings=SETTINGS, UserMetadata={"prospect": "p-1"})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    job = created["Job"]
    assert re.fullmatch(r"\d{13}-[a-z0-9]{6}", job["Id"])
    assert job["Arn"] == f"arn:aws:mediaconvert:us-east-1:{ACCOUNT}:jobs/{job['Id']}"
    assert job["Queue"] == f"arn:aws:mediaconvert:us-east-1:{ACCOUNT}:queues/Default"
    assert job["Status"] == "SUBMITTED"
    assert job["Role"] == ROLE
    assert "SubmitTime" in job["Timing"]

    final = standin.wait(job["Id"], WAIT)
    done = mc.get_job(Id=job["Id"])["Job"]
    assert done == final  # what wait() returns is what GetJob answers
    assert done["Status"] == "COMPLETE"
    assert done["JobPercentComplete"] == 100
    assert done["UserMetadata"] == {"prospect": "p-1"}
    assert set(done["Timing"]) == {"SubmitTime", "StartTime", "FinishTime"}
    assert done["Timing"]["SubmitTime"] <= done["Timing"]["StartTime"] <= done["Timing"]["FinishTime"]
    # GetJob carries only the Job shape's members; the event-only fields are left out.
    assert done["OutputGroupDetails"] == [
        {"OutputDetails": [{"DurationInMs": 12000, "VideoDetails": {"WidthInPx": 1280, "HeightInPx": 720}}]}
    ]
    assert "ErrorCode" not in done


def test_events_in_order_with_eventbridge_shape(make_standin: Factory) -> None:
    standin, events = make_standin(FakeExecutor(steps=(5, 10, 15, 30, 100)), status_update_seconds=0)
    job = create(client(standin), UserMetadata={"prospect": "p-1"})
    standin.wait(job["Id"], WAIT)

    assert [e["detail"]["status"] for e in events] == [
        "SUBMITTED",
        "PROGRESSING",
        "STATUS_UPDATE",
        "STATUS_UPDATE",
        "STATUS_UPDATE",
        "COMPLETE",
    ]
    for event in events:
        assert event["version"] == "0"
        assert event["detail-type"] == "MediaConvert Job State Change"
        assert event["source"] == "aws.mediaconvert"
        assert event["account"] == ACCOUNT
        assert event["region"] == "us-east-1"
        assert event["resources"] == [job["Arn"]]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
        assert re.fullmatch(r"[0-9a-f-]{36}", event["id"])
        detail = event["detail"]
        assert isinstance(detail["timestamp"], int)
        assert detail["accountId"] == ACCOUNT
        assert detail["queue"] == job["Queue"]
        assert detail["jobId"] == job["Id"]
        assert detail["userMetadata"] == {"prospect": "p-1"}
    assert len({e["id"] for e in events}) == len(events)

    updates = [e["detail"] for e in events if e["detail"]["status"] == "STATUS_UPDATE"]
    assert [u["jobProgress"]["jobPercentComplete"] for u in updates] == [10, 30, 100]
    assert updates[0]["framesDecoded"] == 0
    assert updates[0]["jobProgress"] == {
        "jobPercentComplete": 10,
        "currentPhase": "TRANSCODING",
        "retryCount": 0,
    }
    assert events[-1]["detail"]["outputGroupDetails"] == [
        {
            "type": "CMAF_GROUP",
            "playlistFilePaths": ["s3://b/out/index.m3u8"],
            "outputDetails": [
                {
                    "outputFilePaths": ["s3://b/out/video_720.m3u8"],
                    "durationInMs": 12000,
                    "videoDetails": {"widthInPx": 1280, "heightInPx": 720},
                }
            ],
        }
    ]
    json.dumps(events)  # what EventBridge delivers is JSON


def test_job_error_reaches_get_job_and_event(make_standin: Factory) -> None:
    standin, events = make_standin(FakeExecutor())
    mc = client(standin)
    job = create(mc, UserMetadata={"fail": "input has no video"})
    standin.wait(job["Id"], WAIT)

    failed = mc.get_job(Id=job["Id"])["Job"]
    assert (failed["Status"], failed["ErrorCode"], failed["ErrorMessage"]) == (
        "ERROR",
        1010,
        "input has no video",
    )
    assert "OutputGroupDetails" not in failed
    assert [e["detail"]["status"] for e in events] == ["SUBMITTED", "PROGRESSING", "ERROR"]
    assert events[-1]["detail"]["errorCode"] == 1010
    assert events[-1]["detail"]["errorMessage"] == "input has no video"


def test_unexpected_executor_exception_is_error_1999(make_standin: Factory) -> None:
    standin, events = make_standin(FakeExecutor())
    mc = client(standin)
    job = create(mc, UserMetadata={"crash": "disk full"})
    standin.wait(job["Id"], WAIT)

    failed = mc.get_job(Id=job["Id"])["Job"]
    assert (failed["Status"], failed["ErrorCode"], failed["ErrorMessage"]) == ("ERROR", 1999, "disk full")
    assert events[-1]["detail"]["errorCode"] == 1999


def test_failing_on_event_does_not_break_the_server(make_standin: Factory) -> None:
    def explode(event: dict[str, Any]) -> None:
        raise RuntimeError("subscriber down")

    standin, _ = make_standin(FakeExecutor(), on_event=explode)
    mc = client(standin)
    job = create(mc)
    assert standin.wait(job["Id"], WAIT)["Status"] == "COMPLETE"
    assert mc.get_job(Id=job["Id"])["Job"]["Status"] == "COMPLETE"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda s: s["OutputGroups"][0]["Outputs"][0]["VideoDescription"]["CodecSettings"][
                "H264Settings"
            ].update(MaxBitrate="fast"),
            "Invalid type for parameter Settings.OutputGroups[0].Outputs[0].VideoDescription.CodecSettings"
            ".H264Settings.MaxBitrate",
        ),
        (
            lambda s: s["Inputs"][0].update(FileInput=42),
            "Invalid type for parameter Settings.Inputs[0].FileInput",
        ),
        (
            lambda s: s["OutputGroups"][0]["Outputs"][0]["ContainerSettings"].update(Container="MP5"),
            "Invalid value for parameter Settings.OutputGroups[0].Outputs[0].ContainerSettings.Container: 'MP5'",
        ),
    ],
)
def test_invalid_settings_are_bad_request(
    make_standin: Factory, mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    executor = FakeExecutor()
    standin, events = make_standin(executor)
    settings = copy.deepcopy(SETTINGS)
    mutate(settings)
    with pytest.raises(ClientError) as excinfo:
        client(standin, validate=False).create_job(Role=ROLE, Settings=settings)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("BadRequestException", 400)
    assert expected in message
    assert events == []
    assert client(standin).list_jobs()["Jobs"] == []


def test_missing_required_member_is_bad_request(make_standin: Factory) -> None:
    standin, _ = make_standin(FakeExecutor())
    with pytest.raises(ClientError) as excinfo:
        client(standin, validate=False).create_job(Settings=SETTINGS)
    code, message, _ = error_of(excinfo)
    assert code == "BadRequestException"
    assert 'Missing required parameter in input: "Role"' in message


def test_unknown_wire_field_is_bad_request(make_standin: Factory) -> None:
    standin, _ = make_standin(FakeExecutor())
    body = {"role": ROLE, "settings": {"inputs": [{"fileInput": "s3://b/in.mp4", "bogus": 1}]}}
    host, port = standin.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=WAIT)
    connection.request("POST", "/2017-08-29/jobs", body=json.dumps(body))
    response = connection.getresponse()
    assert response.status == 400
    assert response.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert "Settings.Inputs[0].bogus" in json.loads(response.read())["message"]
    connection.close()


def test_unsupported_settings_from_executor_are_bad_request(make_standin: Factory) -> None:
    standin, events = make_standin(FakeExecutor())
    settings = copy.deepcopy(SETTINGS)
    settings["OutputGroups"][0]["Outputs"][0]["ContainerSettings"]["Container"] = "MOV"
    with pytest.raises(ClientError) as excinfo:
        client(standin).create_job(Role=ROLE, Settings=settings)
    assert error_of(excinfo) == ("BadRequestException", "Container MOV is not supported", 400)
    assert events == []


def test_unsupported_operation_is_named(make_standin: Factory) -> None:
    standin, _ = make_standin(FakeExecutor())
    with pytest.raises(ClientError) as excinfo:
        client(standin).list_queues()
    code, message, _ = error_of(excinfo)
    assert code == "BadRequestException"
    assert "ListQueues is not supported" in message

    host, port = standin.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=WAIT)
    connection.request("GET", "/2017-08-29/nowhere")
    response = connection.getresponse()
    assert (response.status, response.headers["x-amzn-ErrorType"]) == (404, "NotFoundException")
    assert "GET /2017-08-29/nowhere" in json.loads(response.read())["message"]
    connection.close()


def test_get_unknown_job_is_not_found(make_standin: Factory) -> None:
    standin, _ = make_standin(FakeExecutor())
    with pytest.raises(ClientError) as excinfo:
        client(standin).get_job(Id="1700000000000-abcdef")
    code, message, status = error_of(excinfo)
    assert (code, status) == ("NotFoundException", 404)
    assert "1700000000000-abcdef" in message


def test_list_jobs_filters_orders_and_paginates(make_standin: Factory) -> None:
    standin, _ = make_standin(FakeExecutor())
    mc = client(standin)
    ids = [create(mc)["Id"] for _ in range(4)]
    ids.append(create(mc, UserMetadata={"fail": "boom"})["Id"])
    ids.append(create(mc, Queue="Other")["Id"])
    for job_id in ids:
        standin.wait(job_id, WAIT)

    listed = mc.list_jobs()
    assert [j["Id"] for j in listed["Jobs"]] == ids[::-1]  # newest first by default
    assert "NextToken" not in listed
    assert [j["Id"] for j in mc.list_jobs(Order="ASCENDING")["Jobs"]] == ids
    assert [j["Id"] for j in mc.list_jobs(Status="ERROR")["Jobs"]] == [ids[4]]
    complete = mc.list_jobs(Status="COMPLETE", Order="ASCENDING")["Jobs"]
    assert [j["Id"] for j in complete] == [*ids[:4], ids[5]]
    assert [j["Id"] for j in mc.list_jobs(Queue="Other")["Jobs"]] == [ids[5]]

    seen: list[str] = []
    pages = 0
    kwargs: dict[str, Any] = {"MaxResults": 2, "Order": "ASCENDING"}
    while True:
        page = mc.list_jobs(**kwargs)
        pages += 1
        assert len(page["Jobs"]) <= 2
        seen += [j["Id"] for j in page["Jobs"]]
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert (seen, pages) == (ids, 3)

    paginated = mc.get_paginator("list_jobs").paginate(Status="COMPLETE", PaginationConfig={"PageSize": 2})
    assert [j["Id"] for page in paginated for j in page["Jobs"]] == [ids[5], *ids[3::-1]]

    with pytest.raises(ClientError) as excinfo:
        mc.list_jobs(NextToken="not a token")
    assert error_of(excinfo)[0] == "BadRequestException"


def test_cancel_progressing_and_queued_jobs(make_standin: Factory) -> None:
    gate = threading.Event()
    executor = FakeExecutor(gate=gate)
    standin, events = make_standin(executor, workers=1)
    mc = client(standin)
    running = create(mc)
    assert executor.started.wait(WAIT)
    queued = create(mc)
    assert mc.get_job(Id=running["Id"])["Job"]["Status"] == "PROGRESSING"
    assert mc.get_job(Id=queued["Id"])["Job"]["Status"] == "SUBMITTED"

    assert mc.cancel_job(Id=queued["Id"])["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert mc.get_job(Id=queued["Id"])["Job"]["Status"] == "CANCELED"
    mc.cancel_job(Id=running["Id"])
    assert standin.wait(running["Id"], WAIT)["Status"] == "CANCELED"
    assert standin.wait(queued["Id"], WAIT)["Status"] == "CANCELED"
    assert "FinishTime" in mc.get_job(Id=running["Id"])["Job"]["Timing"]

    standin.stop()  # drains: the cancelled running job has returned, the queued one never ran
    assert executor.ran == [running["Id"]]
    assert executor.saw_cancel == [running["Id"]]
    by_job = {
        job_id: [e["detail"]["status"] for e in events if e["detail"]["jobId"] == job_id]
        for job_id in executor.ran
    }
    assert by_job[running["Id"]] == ["SUBMITTED", "PROGRESSING", "CANCELED"]
    assert [e["detail"]["status"] for e in events if e["detail"]["jobId"] == queued["Id"]] == [
        "SUBMITTED",
        "CANCELED",
    ]


def test_cancel_finished_job_is_conflict(make_standin: Factory) -> None:
    standin, _ = make_standin(FakeExecutor())
    mc = client(standin)
    job = create(mc)
    standin.wait(job["Id"], WAIT)
    with pytest.raises(ClientError) as excinfo:
        mc.cancel_job(Id=job["Id"])
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ConflictException", 409)
    assert "COMPLETE" in message
    with pytest.raises(ClientError) as missing:
        mc.cancel_job(Id="nope")
    assert error_of(missing)[0] == "NotFoundException"


def test_client_request_token_is_idempotent(make_standin: Factory) -> None:
    standin, events = make_standin(FakeExecutor())
    mc = client(standin)
    first = create(mc, ClientRequestToken="token-1")
    again = create(mc, ClientRequestToken="token-1")
    other = create(mc, ClientRequestToken="token-2")
    assert again["Id"] == first["Id"]
    assert again["ClientRequestToken"] == "token-1"
    assert other["Id"] != first["Id"]
    for job_id in (first["Id"], other["Id"]):
        standin.wait(job_id, WAIT)
    assert len(mc.list_jobs()["Jobs"]) == 2
    assert [e["detail"]["jobId"] for e in events if e["detail"]["status"] == "SUBMITTED"] == [
        first["Id"],
        other["Id"],
    ]


def test_nested_settings_round_trip_unchanged(make_standin: Factory) -> None:
    settings = copy.deepcopy(SETTINGS)
    settings["Inputs"][0].update(
        AudioSelectors={"Audio Selector 1": {"DefaultSelection": "DEFAULT"}},
        VideoSelector={"Rotate": "AUTO"},
        TimecodeSource="ZEROBASED",
    )
    settings["OutputGroups"].append(
        {
            "Name": "CMAF",
            "OutputGroupSettings": {
                "Type": "CMAF_GROUP_SETTINGS",
                "CmafGroupSettings": {"Destination": "s3://b/cmaf/", "SegmentLength": 6, "FragmentLength": 2},
            },
            "Outputs": [
                {
                    "NameModifier": "_720",
                    "ContainerSettings": {"Container": "CMFC"},
                    "VideoDescription": {
                        "Width": 1280,
                        "Height": 720,
                        "CodecSettings": {
                            "Codec": "H_264",
                            "H264Settings": {
                                "RateControlMode": "QVBR",
                                "MaxBitrate": 3000000,
                                "QvbrSettings": {"QvbrQualityLevel": 7},
                            },
                        },
                    },
                },
                {
                    "NameModifier": "_audio",
                    "ContainerSettings": {"Container": "CMFC"},
                    "AudioDescriptions": [
                        {
                            "CodecSettings": {
                                "Codec": "AAC",
                                "AacSettings": {
                                    "Bitrate": 96000,
                                    "CodingMode": "CODING_MODE_2_0",
                                    "SampleRate": 48000,
                                },
                            }
                        }
                    ],
                },
            ],
        }
    )
    standin, _ = make_standin(PermissiveExecutor())
    mc = client(standin)
    job = create(mc, Settings=settings)
    assert job["Settings"] == settings
    assert mc.get_job(Id=job["Id"])["Job"]["Settings"] == settings
    assert standin.wait(job["Id"], WAIT)["Settings"] == settings


def test_wire_walker_uses_location_names() -> None:
    model = botocore.session.get_session().get_service_model("mediaconvert")
    shape = model.shape_for("JobSettings")
    on_wire = wire.to_wire(shape, SETTINGS)
    group = on_wire["outputGroups"][0]
    assert group["outputGroupSettings"] == {
        "type": "FILE_GROUP_SETTINGS",
        "fileGroupSettings": {"destination": "s3://b/out/"},
    }
    assert group["outputs"][0]["videoDescription"]["codecSettings"]["h264Settings"]["maxBitrate"] == 2000000
    unknown: list[str] = []
    assert wire.from_wire(shape, on_wire, unknown) == SETTINGS
    assert unknown == []


def test_serves_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        MediaConvertStandIn(FakeExecutor(), host="0.0.0.0")  # noqa: S104


def test_a_short_job_sends_no_status_update(make_standin: Factory) -> None:
    # A job that finishes within the update interval reports only its status changes, as
    # MediaConvert does for a job shorter than a minute.
    standin, events = make_standin(FakeExecutor(steps=(5, 10, 15, 30, 100)), status_update_seconds=60)
    job = create(client(standin))
    standin.wait(job["Id"], WAIT)
    assert [e["detail"]["status"] for e in events] == ["SUBMITTED", "PROGRESSING", "COMPLETE"]


def test_stop_without_drain_cancels_running_jobs(make_standin: Factory) -> None:
    executor = FakeExecutor(gate=threading.Event())
    standin, events = make_standin(executor, workers=1)
    job = create(client(standin))
    assert executor.started.wait(WAIT)
    standin.stop(drain=False)
    assert standin.wait(job["Id"], WAIT)["Status"] == "CANCELED"
    assert executor.saw_cancel == [job["Id"]]
    assert events[-1]["detail"]["status"] == "CANCELED"
