"""Load generation on locust: plan, workload, pacing, the load client, users, metrics and their tally.

Only ``plan``, ``workload``, ``pacing``, ``measure``, ``tally``, ``collector``, ``engine`` and ``runner``
may be imported outside a locust process; ``users``, ``plugin``, ``harness`` and ``http`` import
locust or gevent, which patch the standard library (they belong to the locust processes alone).
"""
