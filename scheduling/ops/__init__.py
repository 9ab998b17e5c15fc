"""Operations: what tells an operator the deployment is healthy and what it is doing.

Readiness checks and ``/readyz`` (``health``, ``views``), the status page (``status``), Prometheus
metrics and their subscribers (``metrics``, ``observe``), the smoke test (``smoke``) and retention of
occurrences (``retention``).
"""
