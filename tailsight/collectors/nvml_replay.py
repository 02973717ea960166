"""An NVML stand-in that answers from a recording: the hardware boundary of the GPU collector.

``NvmlReplay.load(path)`` reads a JSON recording (format below) and offers the subset of
``pynvml`` that :class:`~tailsight.collectors.nvml.NvmlCollector` calls, with the same
names and signatures, returning pynvml's own ctypes structures and raising pynvml's
``NVMLError`` subclasses (``NotSupported`` for calls listed as unsupported, ``NotFound``
when no process sample is newer than the given timestamp, ``Timeout`` when no event is
pending). It needs ``nvidia-ml-py`` installed, never a driver.

Recording format::

    {"devices": [{"uuid": "GPU-…", "name": "NVIDIA H100 80GB HBM3", "mig_mode": [0, 0],
                  "memory_total": 85520809984, "unsupported": ["nvmlDeviceGetPcie…"],
                  "per_call": {"utilization": [[gpu, mem], …], "memory_used": […],
                               "power_mw": […], "sm_clock_mhz": […], "clocks_event_reasons": […],
                               "ecc_uncorrected": […], "ecc_corrected": […],
                               "pcie_rx_bytes": […], "pcie_tx_bytes": […],
                               "pcie_rx_kib_s": […], "pcie_tx_kib_s": […],
                               "processes": [[[pid, used_bytes], …], …],
                               "process_samples": [[[pid, timestamp_us, sm, mem], …], …],
                               "xid": [[79], [], …]}}]}

Each ``per_call`` list holds the value of successive calls of that function on that GPU
(the n-th call answers item ``n % len``); process samples accumulate like NVML's buffer,
so a caller that passes an old timestamp gets old samples again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pynvml

NVMLError = pynvml.NVMLError
NVMLError_Timeout = pynvml.NVMLError_Timeout


class _Device:
    def __init__(self, index: int, spec: dict[str, Any]) -> None:
        self.index = index
        self.spec = spec
        self.calls: dict[str, int] = {}
        self.xid_pending: list[int] = []

    def value(self, key: str) -> Any:
        series = self.spec["per_call"].get(key)
        if series is None:
            raise NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        n = self.calls.get(key, 0)
        self.calls[key] = n + 1
        return series[n % len(series)]


class NvmlReplay:
    """The ``pynvml`` functions the GPU collector uses, answering from a recording."""

    NVMLError = NVMLError

    def __init__(self, recording: dict[str, Any]) -> None:
        self.recording = recording
        self.devices = [_Device(i, d) for i, d in enumerate(recording["devices"])]
        self.initialized = False
        self._event_devices: list[_Device] = []
        self._events: list[Any] = []

    @classmethod
    def load(cls, path: Path | str) -> NvmlReplay:
        return cls(json.loads(Path(path).read_text()))

    def _check(self, device: _Device, fn: str) -> None:
        if not self.initialized:
            raise NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)
        if fn in device.spec.get("unsupported", ()):
            raise NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    # -- library -----------------------------------------------------------------------

    def nvmlInit(self) -> None:
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self.initialized = False

    def nvmlSystemGetDriverVersion(self) -> str:
        return str(self.recording.get("driver_version", ""))

    def nvmlDeviceGetCount(self) -> int:
        if not self.initialized:
            raise NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Device:
        if not 0 <= index < len(self.devices):
            raise NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self.devices[index]

    # -- device ------------------------------------------------------------------------

    def nvmlDeviceGetUUID(self, handle: _Device) -> str:
        return str(handle.spec["uuid"])

    def nvmlDeviceGetName(self, handle: _Device) -> str:
        return str(handle.spec.get("name", "NVIDIA GPU"))

    def nvmlDeviceGetMigMode(self, handle: _Device) -> list[int]:
        self._check(handle, "nvmlDeviceGetMigMode")
        return list(handle.spec.get("mig_mode", [0, 0]))

    def nvmlDeviceGetUtilizationRates(self, handle: _Device) -> Any:
        self._check(handle, "nvmlDeviceGetUtilizationRates")
        if handle.spec.get("mig_mode", [0, 0])[0] == pynvml.NVML_DEVICE_MIG_ENABLE:
            raise NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        gpu, mem = handle.value("utilization")
        return pynvml.c_nvmlUtilization_t(gpu=gpu, memory=mem)

    def nvmlDeviceGetMemoryInfo(self, handle: _Device, version: Any = None) -> Any:
        self._check(handle, "nvmlDeviceGetMemoryInfo")
        total = int(handle.spec["memory_total"])
        used = int(handle.value("memory_used"))
        return pynvml.c_nvmlMemory_t(total=total, free=total - used, used=used)

    def nvmlDeviceGetFieldValues(self, handle: _Device, fieldIds: list[int]) -> Any:
        self._check(handle, "nvmlDeviceGetFieldValues")
        keys = {
            pynvml.NVML_FI_DEV_PCIE_COUNT_RX_BYTES: "pcie_rx_bytes",
            pynvml.NVML_FI_DEV_PCIE_COUNT_TX_BYTES: "pcie_tx_bytes",
        }
        values = (pynvml.c_nvmlFieldValue_t * len(fieldIds))()
        for i, fid in enumerate(fieldIds):
            values[i].fieldId = fid
            key = keys.get(fid)
            if key is None or key not in handle.spec["per_call"]:
                values[i].nvmlReturn = pynvml.NVML_ERROR_NOT_SUPPORTED
                continue
            values[i].nvmlReturn = pynvml.NVML_SUCCESS
            values[i].valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG
            values[i].value.ullVal = int(handle.value(key))
        return values

    def nvmlDeviceGetPcieThroughput(self, device: _Device, counter: int) -> int:
        self._check(device, "nvmlDeviceGetPcieThroughput")
        key = "pcie_rx_kib_s" if counter == pynvml.NVML_PCIE_UTIL_RX_BYTES else "pcie_tx_kib_s"
        return int(device.value(key))

    def nvmlDeviceGetPowerUsage(self, handle: _Device) -> int:
        self._check(handle, "nvmlDeviceGetPowerUsage")
        return int(handle.value("power_mw"))

    def nvmlDeviceGetTotalEccErrors(self, handle: _Device, errorType: int, counterType: int) -> int:
        self._check(handle, "nvmlDeviceGetTotalEccErrors")
        key = (
            "ecc_uncorrected"
            if errorType == pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
            else "ecc_corrected"
        )
        return int(handle.value(key))

    def nvmlDeviceGetClockInfo(self, handle: _Device, type: int) -> int:
        self._check(handle, "nvmlDeviceGetClockInfo")
        if type != pynvml.NVML_CLOCK_SM:
            raise NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return int(handle.value("sm_clock_mhz"))

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: _Device) -> int:
        self._check(handle, "nvmlDeviceGetCurrentClocksEventReasons")
        return int(handle.value("clocks_event_reasons"))

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: _Device) -> int:
        self._check(handle, "nvmlDeviceGetCurrentClocksThrottleReasons")
        return int(handle.value("clocks_event_reasons"))

    def nvmlDeviceGetComputeRunningProcesses(self, handle: _Device) -> list[Any]:
        self._check(handle, "nvmlDeviceGetComputeRunningProcesses")
        out = []
        for entry in handle.value("processes"):
            pid, used = entry[0], entry[1]
            gi = entry[2] if len(entry) > 2 else 0xFFFFFFFF
            out.append(
                pynvml.nvmlFriendlyObject(
                    {
                        "pid": pid,
                        "usedGpuMemory": used,
                        "gpuInstanceId": gi,
                        "computeInstanceId": gi,
                    }
                )
            )
        return out

    def nvmlDeviceGetProcessUtilization(self, handle: _Device, timeStamp: int) -> list[Any]:
        self._check(handle, "nvmlDeviceGetProcessUtilization")
        if handle.spec.get("mig_mode", [0, 0])[0] == pynvml.NVML_DEVICE_MIG_ENABLE:
            raise NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        series = handle.spec["per_call"]["process_samples"]
        n = handle.calls.get("process_samples", 0)
        handle.calls["process_samples"] = n + 1
        # NVML keeps a ring of recent samples: everything up to now that is newer than timeStamp.
        buffered = [s for cycle in series[: n % len(series) + 1] for s in cycle]
        fresh = [s for s in buffered if s[1] > timeStamp]
        if not fresh:
            raise NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return [
            pynvml.c_nvmlProcessUtilizationSample_t(
                pid=pid, timeStamp=ts, smUtil=sm, memUtil=mem, encUtil=0, decUtil=0
            )
            for pid, ts, sm, mem in fresh
        ]

    # -- events ------------------------------------------------------------------------

    def nvmlEventSetCreate(self) -> list[Any]:
        return self._events

    def nvmlDeviceRegisterEvents(self, handle: _Device, eventTypes: int, eventSet: Any) -> None:
        self._check(handle, "nvmlDeviceRegisterEvents")
        if handle not in self._event_devices:
            self._event_devices.append(handle)

    def nvmlEventSetWait_v2(self, eventSet: Any, timeoutms: int) -> Any:
        if not self._events:
            # A wait is one poll of every registered GPU's next recorded XIDs.
            for device in self._event_devices:
                for xid in device.value("xid") if "xid" in device.spec["per_call"] else ():
                    self._events.append(_EventData(device, xid))
            if not self._events:
                raise NVMLError_Timeout(pynvml.NVML_ERROR_TIMEOUT)
            self._events.append(None)  # end of this poll
        event = self._events.pop(0)
        if event is None:
            raise NVMLError_Timeout(pynvml.NVML_ERROR_TIMEOUT)
        return event

    def nvmlEventSetFree(self, eventSet: Any) -> None:
        self._events.clear()


class _EventData:
    """Like ``c_nvmlEventData_t``: the device handle, event type and XID number."""

    def __init__(self, device: _Device, xid: int) -> None:
        self.device = device
        self.eventType = pynvml.nvmlEventTypeXidCriticalError
        self.eventData = xid
        self.gpuInstanceId = 0xFFFFFFFF
        self.computeInstanceId = 0xFFFFFFFF
