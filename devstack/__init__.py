"""The local stand-ins for AWS (moto wiring, MediaConvert, Athena, Firehose, the CloudFront
gateway, the JWT issuer) and the stack launcher (``stack.LocalStack``). Never deployed.

Imports: chalicelib only for the handlers it runs (the app, its Lambdas and their settings).
It never imports tailorcast_cli or benchmarks; chalicelib never imports it.
"""
