"""Dashboards: the Dash pages served on the API port (fleet, service, incident, GPUs, fabric, SLOs).

Callbacks fetch their data through ``storage`` queries and call ``analysis`` for
anything computed; pages hold no SQL of their own.
"""
