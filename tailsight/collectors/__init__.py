"""Collectors read hardware and services on a node and send what they read as OTLP.

The node agent reads NVML (GPUs and the processes on them), sysfs/procfs (NICs, RDMA
counters, PFC pauses, TCP retransmits, CPU, pressure) and LLDP topology; the switch
poller reads SNMP counters from leaf switches. Every reader takes its source as a
parameter (``nvml=``, ``sysfs_root=``, ``procfs_root=``, ``snmp_target=``) so the same
parsing code runs on a GPU node and in tests against recorded values. Collectors never
import ``storage``: they only speak OTLP to the pipeline.
"""
