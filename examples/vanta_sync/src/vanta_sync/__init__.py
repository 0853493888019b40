"""The Vanta vulnerability sync: a daily Lambda function that copies vulnerabilities and
remediations from the Vanta API into S3, partitioned by date, built on lambda_perf.

Modules: ``config`` (settings from the environment), ``vanta`` (the API client),
``storage`` (parts, manifest, lease and checkpoint in S3), ``sync`` (one run) and
``handler`` (the Lambda entry point, ``vanta_sync.handler.handler``).
"""
