"""Analysis: pure functions from frames to tail-latency spikes and their ranked causes.

Spike detection compares each service's short-window p99 with its own robust baseline;
attribution walks the fleet's topology (replica → GPU → NIC → switch port, co-located
processes) and scores the evidence of each candidate culprit. Nothing here opens a
database connection or draws a chart: ``storage`` fetches the frames, callers store
the results.
"""
