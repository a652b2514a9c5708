"""Pure usage arithmetic: no I/O, no clock (import contracts in CI keep it so).

``evidence`` turns stored messages into a timeline (what each source proves), ``timeline``
builds contiguous intervals from stored spans, ``freshness`` says when data goes stale,
``engine`` computes the usage figures, ``periods`` splits periods in the site time zone and
``policy`` holds the rules' settings.
"""
