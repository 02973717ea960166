"""GPU metrics from NVIDIA's NVML (``import pynvml``, package ``nvidia-ml-py``), per GPU by UUID.

``NvmlCollector(nvml=…)`` takes the module (or a replay with the same functions), so the
same code reads a real driver and a recorded 8-GPU node. What each metric comes from:

- utilization, memory, power, SM clock, clock-event (throttle) reasons: the device calls of
  the same names; ``hw.gpu.utilization`` is NVML's "percent of time a kernel ran" / 100.
- ``hw.gpu.io``: the cumulative PCIe byte counters (field values
  ``NVML_FI_DEV_PCIE_COUNT_{RX,TX}_BYTES``) where the driver has them, else NVML's PCIe
  throughput (KiB/s over a 20 ms window) times the time since the last collection.
- ``hw.errors``: XID critical-error events (an event set polled without waiting each
  collection) and volatile ECC counts, kept cumulative across driver reloads.
- per process: ``nvmlDeviceGetComputeRunningProcesses`` for memory and
  ``nvmlDeviceGetProcessUtilization`` with the last timestamp seen on that GPU, so every
  sample is counted in exactly one interval; a process's SM share is the mean of its
  samples, 0 when it ran nothing.

MIG: a GPU in MIG mode has no device or per-process SM utilization in NVML; those are
reported as unsupported (logged once) and not emitted, while memory, power, clocks,
errors and per-process memory are read from the parent GPU only, never from its MIG
instances as well, so nothing is counted twice. MPS: the MPS server process holds the
clients' contexts; it is left out of the per-process series so its clients are not
counted twice.
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tailsight.collectors.base import AttrValue, CounterSet, Point
from tailsight.collectors.processes import ProcessDirectory, ProcessInfo

log = logging.getLogger(__name__)

# NVML ABI constants (nvml.h); kept here so this module loads without nvidia-ml-py.
NVML_CLOCK_SM = 1
NVML_PCIE_UTIL_TX_BYTES = 0
NVML_PCIE_UTIL_RX_BYTES = 1
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_VOLATILE_ECC = 0
NVML_DEVICE_MIG_ENABLE = 1
NVML_EVENT_TYPE_XID_CRITICAL_ERROR = 0x8
NVML_FI_DEV_PCIE_COUNT_TX_BYTES = 197
NVML_FI_DEV_PCIE_COUNT_RX_BYTES = 198
NVML_SUCCESS = 0
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_FUNCTION_NOT_FOUND = 13

# Clock event (throttle) reasons, nvmlClocksEventReason*: bit -> tailsight.throttle.reason.
THROTTLE_REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
MPS_SERVER = "nvidia-cuda-mps-server"


@dataclass
class _Gpu:
    index: int
    handle: Any
    uuid: str
    mig: bool
    attrs: dict[str, AttrValue]
    last_sample_us: int = 0
    pcie_counters: bool = True
    xid: int = 0
    throttle_seen: int = 0
    logged: set[str] = field(default_factory=set)
    # The GPU's attributes with one more (task, error type, direction …), built once.
    _with: dict[tuple[str, AttrValue], dict[str, AttrValue]] = field(default_factory=dict)
    _processes: dict[ProcessInfo, dict[str, AttrValue]] = field(default_factory=dict)

    def process_attrs(self, info: ProcessInfo) -> dict[str, AttrValue]:
        """A process's series on this GPU: ``hw.id`` and who the process is."""
        attrs = self._processes.get(info)
        if attrs is None:
            if len(self._processes) >= 4096:  # processes come and go
                self._processes.clear()
            attrs = self._processes[info] = {"hw.id": self.uuid, **info.attributes()}
        return attrs

    def attrs_with(self, key: str, value: AttrValue) -> dict[str, AttrValue]:
        attrs = self._with.get((key, value))
        if attrs is None:
            attrs = self._with[(key, value)] = {**self.attrs, key: value}
        return attrs


def _handle_key(handle: Any) -> int:
    """Identity of a device handle: NVML hands out pointers, equal when they point alike."""
    try:
        return int(ctypes.cast(handle, ctypes.c_void_p).value or 0)
    except (TypeError, ctypes.ArgumentError):
        return id(handle)


class NvmlCollector:
    """Every CONTRACT §3 GPU metric, per GPU (``hw.id`` = UUID) and per process on it.

    Args:
        nvml: the ``pynvml`` module or an object with the same functions; ``None`` imports it.
        processes: names pids (executable, pod); shared with the process CPU collector.
        clock: monotonic seconds, for integrating PCIe throughput where there are no counters.
        max_events: XID events drained per collection at most.
    """

    name = "nvml"

    def __init__(
        self,
        nvml: Any | None = None,
        processes: ProcessDirectory | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_events: int = 256,
    ) -> None:
        self.nvml: Any = nvml  # None until start() imports pynvml
        self.processes = processes if processes is not None else ProcessDirectory()
        self.clock = clock
        self.max_events = max_events
        self.gpus: list[_Gpu] = []
        self.available: bool | None = None
        self.unavailable_reason = ""
        self.counters = CounterSet(bits=64)
        self._pcie_total: dict[tuple[str, str], float] = {}
        self._last_time: float | None = None
        self._events: Any = None
        self._pids: set[int] = set()
        self._error: type[BaseException] = Exception

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> bool:
        """Load NVML and enumerate GPUs; says once why not when there is no GPU."""
        if self.available is not None:
            return self.available
        try:
            if self.nvml is None:
                import pynvml

                self.nvml = pynvml
            self._error = self.nvml.NVMLError
            self.nvml.nvmlInit()
            count = int(self.nvml.nvmlDeviceGetCount())
            if count == 0:
                raise LookupError("the driver reports 0 devices")
            for index in range(count):
                self.gpus.append(self._open(index))
        except ImportError:
            return self._unavailable("nvidia-ml-py is not installed")
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, …
            return self._unavailable(str(exc) or type(exc).__name__)
        self._register_events()
        self.available = True
        log.info("NVML: %d GPU(s): %s", len(self.gpus), ", ".join(g.uuid for g in self.gpus))
        return True

    def _unavailable(self, reason: str) -> bool:
        self.available = False
        self.unavailable_reason = reason
        self.gpus = []
        log.warning("no NVIDIA GPU found (%s); GPU metrics are off, the rest keeps running", reason)
        return False

    def _open(self, index: int) -> _Gpu:
        nv = self.nvml
        assert nv is not None
        handle = nv.nvmlDeviceGetHandleByIndex(index)
        uuid = nv.nvmlDeviceGetUUID(handle)
        uuid = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
        mig = False
        try:
            current, _pending = nv.nvmlDeviceGetMigMode(handle)
            mig = current == NVML_DEVICE_MIG_ENABLE
        except self._error:
            pass  # not a MIG-capable GPU
        attrs: dict[str, AttrValue] = {"hw.id": uuid, "hw.name": f"gpu{index}", "hw.type": "gpu"}
        gpu = _Gpu(index, handle, uuid, mig, attrs)
        if mig:
            self._note(gpu, "mig", "MIG mode: device and per-process SM utilization unsupported")
        return gpu

    def _register_events(self) -> None:
        nv = self.nvml
        try:
            self._events = nv.nvmlEventSetCreate()
        except self._error as exc:
            log.info("NVML events unsupported (%s): XID errors are not counted", exc)
            return
        for gpu in self.gpus:
            try:
                nv.nvmlDeviceRegisterEvents(
                    gpu.handle, NVML_EVENT_TYPE_XID_CRITICAL_ERROR, self._events
                )
            except self._error as exc:
                self._note(gpu, "xid", f"XID events unsupported ({exc})")

    def close(self) -> None:
        if not self.available or self.nvml is None:
            return
        try:
            if self._events is not None:
                self.nvml.nvmlEventSetFree(self._events)
            self.nvml.nvmlShutdown()
        except self._error:
            pass
        self.available = None
        self.gpus = []

    # -- reading -----------------------------------------------------------------------

    def gpu_pids(self) -> set[int]:
        """Pids that held a GPU context at the last collection."""
        return set(self._pids)

    def _note(self, gpu: _Gpu, key: str, message: str) -> None:
        if key not in gpu.logged:
            gpu.logged.add(key)
            log.info("%s (%s): %s", gpu.attrs["hw.name"], gpu.uuid, message)

    def _call(self, gpu: _Gpu, fn: str, *args: Any) -> Any:
        """One NVML call; an error is logged once per GPU and call, and gives ``None``."""
        try:
            return getattr(self.nvml, fn)(gpu.handle, *args)
        except self._error as exc:
            self._note(gpu, fn, f"{fn} failed: {exc}")
            return None

    def collect(self) -> Iterator[Point]:
        if not self.start():
            return
        now = self.clock()
        elapsed = None if self._last_time is None else max(0.0, now - self._last_time)
        self._last_time = now
        xids = self._drain_events()
        pids: set[int] = set()
        for gpu in self.gpus:
            gpu.xid += xids.get(_handle_key(gpu.handle), 0)
            yield from self._device(gpu, elapsed)
            yield from self._processes(gpu, pids)
        self._pids = pids

    def _drain_events(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        if self._events is None:
            return counts
        for _ in range(self.max_events):
            try:
                data = self.nvml.nvmlEventSetWait_v2(self._events, 0)
            except self._error as exc:
                if getattr(exc, "value", None) != NVML_ERROR_TIMEOUT:
                    log.info("NVML event wait failed: %s", exc)
                break
            if data.eventType & NVML_EVENT_TYPE_XID_CRITICAL_ERROR:
                key = _handle_key(data.device)
                counts[key] = counts.get(key, 0) + 1
        return counts

    def _device(self, gpu: _Gpu, elapsed: float | None) -> Iterator[Point]:
        attrs = gpu.attrs
        if not gpu.mig:
            util = self._call(gpu, "nvmlDeviceGetUtilizationRates")
            if util is not None:
                yield Point(
                    "hw.gpu.utilization", util.gpu / 100.0, gpu.attrs_with("hw.gpu.task", "general")
                )
        mem = self._call(gpu, "nvmlDeviceGetMemoryInfo")
        if mem is not None:
            yield Point("hw.gpu.memory.usage", float(mem.used), attrs)
            yield Point("hw.gpu.memory.limit", float(mem.total), attrs)
        yield from self._pcie(gpu, elapsed)
        power = self._call(gpu, "nvmlDeviceGetPowerUsage")
        if power is not None:
            yield Point("hw.power", power / 1000.0, attrs)
        for error_type, etype in (
            ("ecc_uncorrected", NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
            ("ecc_corrected", NVML_MEMORY_ERROR_TYPE_CORRECTED),
        ):
            raw = self._call(gpu, "nvmlDeviceGetTotalEccErrors", etype, NVML_VOLATILE_ECC)
            if raw is not None:
                total = self.counters.update((gpu.uuid, error_type), raw)
                yield Point("hw.errors", total, gpu.attrs_with("error.type", error_type))
        if self._events is not None and "xid" not in gpu.logged:
            yield Point("hw.errors", float(gpu.xid), gpu.attrs_with("error.type", "xid"))
        clock = self._call(gpu, "nvmlDeviceGetClockInfo", NVML_CLOCK_SM)
        if clock is not None:
            yield Point("tailsight.gpu.sm_clock", clock * 1e6, attrs)
        reasons = self._throttle_reasons(gpu)
        if reasons is not None:
            # A reason is reported from its first activation on (1, then 0 when it clears):
            # nine all-zero series per GPU would outweigh the rest of the GPU's metrics.
            gpu.throttle_seen |= reasons
            for bit, reason in THROTTLE_REASONS.items():
                if gpu.throttle_seen & bit:
                    yield Point(
                        "tailsight.gpu.throttle",
                        1.0 if reasons & bit else 0.0,
                        gpu.attrs_with("tailsight.throttle.reason", reason),
                    )

    def _throttle_reasons(self, gpu: _Gpu) -> int | None:
        # The "clocks event" call replaced the "throttle" one in R535; older drivers lack it.
        if "events_call" not in gpu.logged:
            try:
                return int(self.nvml.nvmlDeviceGetCurrentClocksEventReasons(gpu.handle))
            except (AttributeError, self._error) as exc:
                if getattr(exc, "value", NVML_ERROR_FUNCTION_NOT_FOUND) not in (
                    NVML_ERROR_FUNCTION_NOT_FOUND,
                    NVML_ERROR_NOT_SUPPORTED,
                ):
                    self._note(gpu, "throttle", f"clock event reasons failed: {exc}")
                    return None
                gpu.logged.add("events_call")
        reasons = self._call(gpu, "nvmlDeviceGetCurrentClocksThrottleReasons")
        return None if reasons is None else int(reasons)

    def _pcie(self, gpu: _Gpu, elapsed: float | None) -> Iterator[Point]:
        directions = (
            ("receive", NVML_FI_DEV_PCIE_COUNT_RX_BYTES, NVML_PCIE_UTIL_RX_BYTES),
            ("transmit", NVML_FI_DEV_PCIE_COUNT_TX_BYTES, NVML_PCIE_UTIL_TX_BYTES),
        )
        if gpu.pcie_counters:
            values = self._call(gpu, "nvmlDeviceGetFieldValues", [d[1] for d in directions])
            if values is not None and all(v.nvmlReturn == NVML_SUCCESS for v in values):
                for (direction, _, _), v in zip(directions, values, strict=True):
                    total = self.counters.update((gpu.uuid, "pcie", direction), v.value.ullVal)
                    yield Point(
                        "hw.gpu.io", total, gpu.attrs_with("network.io.direction", direction)
                    )
                return
            gpu.pcie_counters = False
            self._note(gpu, "pcie", "no PCIe byte counters: integrating PCIe throughput")
        for direction, _, counter in directions:
            kib_s = self._call(gpu, "nvmlDeviceGetPcieThroughput", counter)
            if kib_s is None:
                continue
            key = (gpu.uuid, direction)
            total = self._pcie_total.get(key, 0.0)
            if elapsed is not None:
                total += kib_s * 1024.0 * elapsed
            self._pcie_total[key] = total
            yield Point("hw.gpu.io", total, gpu.attrs_with("network.io.direction", direction))

    def _processes(self, gpu: _Gpu, pids: set[int]) -> Iterator[Point]:
        running = self._call(gpu, "nvmlDeviceGetComputeRunningProcesses") or []
        memory: dict[int, float | None] = {}
        for proc in running:
            used = proc.usedGpuMemory
            prev = memory.get(proc.pid)
            # One entry per MIG instance a process uses: its memory there adds up.
            memory[proc.pid] = None if used is None else (prev or 0.0) + float(used)
        shares = None if gpu.mig else self._sm_shares(gpu)
        for pid in sorted(set(memory) | set(shares or ())):
            info = self.processes.info(pid)
            if info.name == MPS_SERVER:
                self._note(gpu, "mps", "MPS server seen: reporting its clients, not the server")
                continue
            pids.add(pid)
            attrs = gpu.process_attrs(info)
            if shares is not None:
                yield Point("tailsight.gpu.process.utilization", shares.get(pid, 0.0), attrs)
            used = memory.get(pid)
            if used is not None:
                yield Point("tailsight.gpu.process.memory.usage", used, attrs)

    def _sm_shares(self, gpu: _Gpu) -> dict[int, float] | None:
        """Mean SM share per pid over the samples since the last collection; ``None``: unknown."""
        try:
            samples = self.nvml.nvmlDeviceGetProcessUtilization(gpu.handle, gpu.last_sample_us)
        except self._error as exc:
            if getattr(exc, "value", None) == NVML_ERROR_NOT_FOUND:
                return {}  # no sample newer than the last: nothing ran
            self._note(gpu, "process_util", f"process utilization failed: {exc}")
            return None
        sums: dict[int, list[float]] = {}
        for s in samples:
            if s.timeStamp <= gpu.last_sample_us:
                continue  # NVML may return the boundary sample again
            acc = sums.setdefault(int(s.pid), [0.0, 0.0])
            acc[0] += s.smUtil
            acc[1] += 1
        if samples:
            gpu.last_sample_us = max(gpu.last_sample_us, max(int(s.timeStamp) for s in samples))
        return {pid: min(1.0, total / n / 100.0) for pid, (total, n) in sums.items() if n}
