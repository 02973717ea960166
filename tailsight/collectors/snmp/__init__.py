"""The switch poller's SNMP side: client, IF-MIB and LLDP-MIB readers, vendor mappings, poller.

``client`` speaks SNMP (pysnmp 7 asyncio), ``ifmib``/``lldp`` turn walked tables into
port readings and neighbors, ``mappings`` loads the vendor YAML of PFC/ECN columns,
``poller`` polls many switches concurrently into ``tailsight.switch.*`` points, and
``export`` sends a cycle of every switch as one OTLP request, a resource per switch.
"""
