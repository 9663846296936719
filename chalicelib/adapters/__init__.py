"""Adapters: the domain's ports implemented on the outside world.

DynamoDB (``dynamodb/``), S3, MediaConvert, Step Functions, Athena and Firehose, KMS, CloudFront
keys, JWT verification, webhooks over HTTPS, the voice Lambda (``voice_runner``), PyAV probing
(``probe``) and decoding and drawing (``frames``), and the speech engines (``voice/``). Each is
built lazily and injected by :mod:`chalicelib.dependencies`; AWS errors become domain errors here.

May import: the domain, the ``chalicelib.media`` helpers, boto3, botocore, PynamoDB, PyAV, Pillow,
HTTP clients. Never the api or tasks (they call adapters, not the other way round); the voice
engines (numpy, piper) only from ``adapters/voice``.
"""
