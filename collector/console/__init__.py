"""The web console (issue 16): server-rendered pages under ``/`` for people who do not open
Grafana: the fleet now, an instrument's day or week, usage by unit and month, warning lists.

It shows what the API computes, through the same functions (ledger queries, the fleet usage
path, the report code), signed in with a read token held in an HttpOnly cookie.
"""
