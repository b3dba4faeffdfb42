"""Capacity model: replicas per stage for a target load, and a day of bursty traffic replayed
through the per-stage service rates with lag-based autoscaling (as KEDA does).

Service rates are photos per second per replica, taken from the bench/ figures (see docs/scaling.md);
override them with --rate STAGE=R. Prints the plan, the hourly lag and the cost per 1,000 photos.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

# photos/s per replica: GPU figures are the issue targets until measured on a lent GPU (bench/README.md);
# CPU figures come from bench/*.py on one core of the 2-core dev machine.
GPU_RATES = {"swapper": 300.0 / 1.5, "enhancer": 150.0 / 1.5, "makeup": 200.0, "generator": 200.0}
CPU_RATES = {"swapper": 3.0, "enhancer": 0.4, "makeup": 10.0, "generator": 20.0}
STEPS_PER_PHOTO = {"swapper": 1.0, "enhancer": 1.0, "makeup": 0.3}  # makeup is optional; castings are rare
GPU_COST_PER_HOUR = 2.5  # one GPU replica (cloud list price order of magnitude)
CPU_COST_PER_HOUR = 0.05  # one CPU core


def diurnal_profile(peak_factor: float = 10.0) -> list[float]:
    """24 hourly multipliers of the mean rate: quiet nights, an evening burst peak_factor× the night."""
    base = [0.3, 0.2, 0.2, 0.2, 0.3, 0.5, 0.8, 1.0, 1.1, 1.2, 1.2, 1.3,
            1.4, 1.3, 1.2, 1.2, 1.3, 1.5, 1.8, 2.0, 2.0, 1.6, 1.0, 0.6]
    low = min(base)
    scaled = [low + (b - low) * (peak_factor * low - low) / (max(base) - low) for b in base]
    mean = sum(scaled) / len(scaled)
    return [s / mean for s in scaled]


@dataclass
class StagePlan:
    stage: str
    rate_per_replica: float
    peak_load: float  # events/s at the peak hour
    replicas_at_peak: int
    partitions: int


def plan(photos_per_hour: float, rates: dict[str, float], peak_factor: float, headroom: float = 0.7) -> list[StagePlan]:
    """Replicas so that the peak hour runs each replica at `headroom` of its rate; partitions ≥ replicas."""
    peak = max(diurnal_profile(peak_factor))
    plans = []
    for stage, share in STEPS_PER_PHOTO.items():
        load = photos_per_hour / 3600 * share * peak
        replicas = max(1, math.ceil(load / (rates[stage] * headroom)))
        plans.append(StagePlan(stage, rates[stage], load, replicas, max(6, replicas)))
    return plans


def simulate_day(photos_per_hour: float, rates: dict[str, float], peak_factor: float, lag_threshold: int = 50,
                 max_replicas: dict[str, int] | None = None, step_s: int = 5) -> dict[str, list[tuple[int, float, int]]]:
    """Minute by minute: arrivals, lag-based scaling (replicas = ceil(lag / threshold), 1..max), work done.
    Returns per stage a list of (hour, max lag in that hour, max replicas in that hour)."""
    profile = diurnal_profile(peak_factor)
    out: dict[str, list[tuple[int, float, int]]] = {}
    for stage, share in STEPS_PER_PHOTO.items():
        limit = (max_replicas or {}).get(stage, 64)
        lag, replicas, hours = 0.0, 1, []
        for hour in range(24):
            worst_lag, most = 0.0, replicas
            for _ in range(3600 // step_s):
                lag += photos_per_hour / 3600 * share * profile[hour] * step_s
                replicas = min(limit, max(1, math.ceil(lag / lag_threshold)))
                lag = max(0.0, lag - replicas * rates[stage] * step_s)
                worst_lag, most = max(worst_lag, lag), max(most, replicas)
            hours.append((hour, worst_lag, most))
        out[stage] = hours
    return out


def cost_per_thousand(photos_per_hour: float, rates: dict[str, float], peak_factor: float, gpu: bool) -> float:
    """Replica-hours the autoscaler would run over the day, per 1,000 photos."""
    profile = diurnal_profile(peak_factor)
    hourly_cost = GPU_COST_PER_HOUR if gpu else CPU_COST_PER_HOUR
    replica_hours = 0.0
    for stage, share in STEPS_PER_PHOTO.items():
        for mult in profile:
            load = photos_per_hour / 3600 * share * mult
            replica_hours += max(0 if gpu else 1, math.ceil(load / rates[stage])) if load else 0
    return replica_hours * hourly_cost / (photos_per_hour * 24 / 1000)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos-per-hour", type=float, default=20_000)
    parser.add_argument("--peak-factor", type=float, default=10.0)
    parser.add_argument("--cpu", action="store_true", help="use the CPU service rates instead of GPU")
    parser.add_argument("--rate", action="append", default=[], metavar="STAGE=R")
    args = parser.parse_args(argv)
    rates = dict(CPU_RATES if args.cpu else GPU_RATES)
    for item in args.rate:
        stage, _, value = item.partition("=")
        rates[stage] = float(value)
    print(f"target {args.photos_per_hour:,.0f} photos/hour (mean), peak {args.peak_factor:g}× the quietest hour, "
          f"{'CPU' if args.cpu else 'GPU'} rates")
    print(f"{'stage':<10}{'rate/replica':>14}{'peak ev/s':>11}{'replicas':>10}{'partitions':>12}")
    plans = plan(args.photos_per_hour, rates, args.peak_factor)
    for p in plans:
        print(f"{p.stage:<10}{p.rate_per_replica:>14.1f}{p.peak_load:>11.1f}{p.replicas_at_peak:>10}{p.partitions:>12}")
    day = simulate_day(args.photos_per_hour, rates, args.peak_factor,
                       max_replicas={p.stage: p.partitions for p in plans})
    print("\nhour  " + "  ".join(f"{s + ' lag/replicas':>22}" for s in day))
    for hour in range(24):
        print(f"{hour:>4}  " + "  ".join(f"{day[s][hour][1]:>14.0f} / {day[s][hour][2]:>5}" for s in day))
    print(f"\ncost per 1,000 photos: ${cost_per_thousand(args.photos_per_hour, rates, args.peak_factor, not args.cpu):.3f}")
    # MinIO and Kafka sizing: inputs ~1.5 MB, each step writes one image of the same size; 7-day retention.
    per_photo_mb = 1.5 * (1 + sum(STEPS_PER_PHOTO.values()))
    print(f"object storage for 7 days: {args.photos_per_hour * 24 * 7 * per_photo_mb / 1e6:.1f} TB; "
          f"Kafka: {args.photos_per_hour * 24 * 4 * 3 / 1e6:.2f} GB/day of ~3 kB events")


if __name__ == "__main__":
    main()
