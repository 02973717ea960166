"""Built-in vendor mappings: YAML data files read by :mod:`tailsight.collectors.snmp.mappings`."""
