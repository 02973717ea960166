"""Records a real driver's NVML answers into the replay format of :mod:`nvml_replay`.

``tailsight agent --record-nvml FILE --cycles N`` on a GPU node makes the fixtures that
tests and benchmarks replay: the calls the GPU collector makes, once per interval, per GPU.
A call the driver does not support is left out of ``per_call``, which is how the replay
reproduces it (``NVMLError_NotSupported``).
"""

from __future__ import annotations

import time
from typing import Any

from tailsight.collectors.nvml import (
    NVML_CLOCK_SM,
    NVML_EVENT_TYPE_XID_CRITICAL_ERROR,
    NVML_FI_DEV_PCIE_COUNT_RX_BYTES,
    NVML_FI_DEV_PCIE_COUNT_TX_BYTES,
    NVML_MEMORY_ERROR_TYPE_CORRECTED,
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
    NVML_PCIE_UTIL_RX_BYTES,
    NVML_PCIE_UTIL_TX_BYTES,
    NVML_SUCCESS,
    NVML_VOLATILE_ECC,
    _handle_key,
)

# per_call key -> (function, extra arguments, how to keep the answer)
_CALLS: dict[str, tuple[str, tuple[Any, ...], Any]] = {
    "utilization": ("nvmlDeviceGetUtilizationRates", (), lambda r: [r.gpu, r.memory]),
    "memory_used": ("nvmlDeviceGetMemoryInfo", (), lambda r: int(r.used)),
    "power_mw": ("nvmlDeviceGetPowerUsage", (), int),
    "sm_clock_mhz": ("nvmlDeviceGetClockInfo", (NVML_CLOCK_SM,), int),
    "clocks_event_reasons": ("nvmlDeviceGetCurrentClocksEventReasons", (), int),
    "ecc_uncorrected": (
        "nvmlDeviceGetTotalEccErrors",
        (NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC),
        int,
    ),
    "ecc_corrected": (
        "nvmlDeviceGetTotalEccErrors",
        (NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_VOLATILE_ECC),
        int,
    ),
    "pcie_rx_kib_s": ("nvmlDeviceGetPcieThroughput", (NVML_PCIE_UTIL_RX_BYTES,), int),
    "pcie_tx_kib_s": ("nvmlDeviceGetPcieThroughput", (NVML_PCIE_UTIL_TX_BYTES,), int),
    "processes": (
        "nvmlDeviceGetComputeRunningProcesses",
        (),
        lambda procs: [
            [int(p.pid), p.usedGpuMemory, int(getattr(p, "gpuInstanceId", 0xFFFFFFFF))]
            for p in procs
        ],
    ),
}


def record_nvml(nvml: Any, cycles: int, interval_s: float = 1.0) -> dict[str, Any]:
    """``cycles`` rounds of the GPU collector's calls, ``interval_s`` apart, as a replay recording."""
    error = nvml.NVMLError
    nvml.nvmlInit()
    try:
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        devices: list[dict[str, Any]] = []
        for h in handles:
            uuid = nvml.nvmlDeviceGetUUID(h)
            name = nvml.nvmlDeviceGetName(h)
            try:
                mig = list(nvml.nvmlDeviceGetMigMode(h))
            except error:
                mig = [0, 0]
            devices.append(
                {
                    "uuid": uuid.decode() if isinstance(uuid, bytes) else str(uuid),
                    "name": name.decode() if isinstance(name, bytes) else str(name),
                    "mig_mode": mig,
                    "memory_total": int(nvml.nvmlDeviceGetMemoryInfo(h).total),
                    "per_call": {},
                }
            )
        events = _events(nvml, handles)
        last_ts = [0] * len(handles)
        for cycle in range(cycles):
            if cycle:
                time.sleep(interval_s)
            xids = _drain(nvml, events)
            for i, (h, dev) in enumerate(zip(handles, devices, strict=True)):
                pc = dev["per_call"]
                for key, (fn, args, keep) in _CALLS.items():
                    try:
                        value = keep(getattr(nvml, fn)(h, *args))
                    except error:
                        continue  # never answered: no key, and the replay says NotSupported
                    pc.setdefault(key, []).append(value)
                _record_fields(nvml, h, pc)
                try:
                    samples = nvml.nvmlDeviceGetProcessUtilization(h, last_ts[i])
                    rows = [[int(s.pid), int(s.timeStamp), s.smUtil, s.memUtil] for s in samples]
                    last_ts[i] = max([last_ts[i], *(r[1] for r in rows)])
                except error:
                    rows = []
                pc.setdefault("process_samples", []).append(rows)
                pc.setdefault("xid", []).append(xids.get(_handle_key(h), []))
        return {"recorded": "tailsight agent --record-nvml", "devices": devices}
    finally:
        nvml.nvmlShutdown()


def _record_fields(nvml: Any, handle: Any, pc: dict[str, list[Any]]) -> None:
    try:
        values = nvml.nvmlDeviceGetFieldValues(
            handle, [NVML_FI_DEV_PCIE_COUNT_RX_BYTES, NVML_FI_DEV_PCIE_COUNT_TX_BYTES]
        )
    except nvml.NVMLError:
        return
    for key, v in zip(("pcie_rx_bytes", "pcie_tx_bytes"), values, strict=True):
        if v.nvmlReturn == NVML_SUCCESS:
            pc.setdefault(key, []).append(int(v.value.ullVal))


def _events(nvml: Any, handles: list[Any]) -> Any:
    try:
        events = nvml.nvmlEventSetCreate()
    except nvml.NVMLError:
        return None
    for h in handles:
        try:
            nvml.nvmlDeviceRegisterEvents(h, NVML_EVENT_TYPE_XID_CRITICAL_ERROR, events)
        except nvml.NVMLError:
            pass
    return events


def _drain(nvml: Any, events: Any) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    if events is None:
        return out
    for _ in range(256):
        try:
            data = nvml.nvmlEventSetWait_v2(events, 0)
        except nvml.NVMLError:
            break  # Timeout: no event pending
        out.setdefault(_handle_key(data.device), []).append(int(data.eventData))
    return out
