"""The DynamoDB adapters: the single-table schema (``schema``), its PynamoDB items (``models``),
the repositories by aggregate (``repositories/``), the one item↔model mapper they share
(``mapping``) and the quota counters (``quotas``).

May import: the domain, PynamoDB, boto3 and botocore, the shared AWS error translation. Never the
api, tasks or other adapters' services.
"""
