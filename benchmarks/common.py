"""What every benchmark prints about where it ran, and device synchronisation for timings."""

from __future__ import annotations

import platform

import torch


def describe_machine(device: torch.device, threads: int | None = None) -> str:
    """One line: the device (GPU name, or CPU model and threads) and torch's version."""
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
    else:
        model = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model)
        except OSError:
            pass
        where = f"{model} CPU, {threads or torch.get_num_threads()} torch threads"
    return f"{where}, torch {torch.__version__}"


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so wall-clock timings include it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
