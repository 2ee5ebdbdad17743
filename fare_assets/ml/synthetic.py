"""Offline synthetic NYC yellow-cab trips, shaped like early 2016, with optional drift scenarios.

Every shape below is calibrated against real TLC samples (2019-01..02, same meter rules as
2016); see benchmarks/synthetic_calibration.py and docs/synthetic_calibration.md. Each day is
drawn from its own seed, so any window is reproducible and agrees with every overlapping one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from fare_assets.ml.schema import DROPOFF_TIME, PICKUP_TIME, TRIP_COLUMNS, TRIP_ID

SEED = 2016
JFK, LGA = 132, 138

SCENARIOS: dict[str, str] = {
    "demand_collapse": "volume drops ~85%; trips get shorter and faster on empty streets (like April 2020)",
    "fare_rule_change": "meter rates rise 25% per mile and per minute, initial charge $3.00, JFK flat $65",
    "longer_trips": "non-airport trip distances triple",
    "rush_shift": "the daily demand and congestion peaks move 4 hours earlier",
}


@dataclass(frozen=True)
class MeterRules:
    initial: float = 2.50
    unit_price: float = 0.50  # charged per 1/5 mile moving, or per minute slow/stopped
    jfk_flat: float = 52.0


METER_2016 = MeterRules()


@dataclass(frozen=True)
class Scenario:
    name: str
    start: date

    def __str__(self) -> str:
        return f"{self.name}@{self.start.isoformat()}"


def parse_scenario(spec: str) -> Scenario | None:
    spec = (spec or "").strip()
    if not spec:
        return None
    name, _, day = spec.partition("@")
    try:
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}")
        return Scenario(name, date.fromisoformat(day))
    except ValueError as error:
        reason = error if name not in SCENARIOS else "no valid date YYYY-MM-DD after '@'"
        forms = "; ".join(f"{n}@YYYY-MM-DD ({d})" for n, d in SCENARIOS.items())
        raise ValueError(f"bad scenario {spec!r}: {reason}; accepted: empty, or one of: {forms}") from None


def meter_fare(moving_miles, slow_minutes, rules: MeterRules = METER_2016) -> np.ndarray:
    """The taximeter: the initial charge, then one unit per 1/5 mile moving or per slow minute."""
    units = np.round(5 * np.asarray(moving_miles) + np.asarray(slow_minutes))
    return rules.initial + rules.unit_price * units


# Real shares of pickups by hour (%), on weekdays and on weekends: low 3-6 am, evening peak,
# busy weekend nights. Trips per day relative to the average day, Monday..Sunday.
WEEKDAY_HOURS = [1.7, 1.2, .7, .5, .6, 1.2, 2.5, 4.8, 5.6, 5.3, 4.9, 5,
                 5.3, 5, 5.5, 5.5, 5.4, 6.2, 6.8, 6.7, 5.9, 5.4, 5.1, 3.4]
WEEKEND_HOURS = [5.2, 4, 3.1, 2.1, 1.5, .6, 1.1, 1.5, 2.5, 3.7, 4.5, 5.2,
                 5.6, 6, 5.9, 5.7, 5.9, 5.6, 6.7, 5.7, 4.8, 4.4, 4.9, 4.1]
DAY_VOLUME = [.928, 1.0, 1.011, 1.056, 1.104, 1.026, .874]
# Median speed (mph) of a 1.6-mile trip by pickup hour: slow in the day, fast at night.
WEEKDAY_MPH = [13.3, 14.5, 14.5, 14.9, 15.7, 15.3, 12.7, 9.7, 7.7, 7.3, 7.3, 7.4,
               7.6, 8.1, 8.0, 7.8, 8.0, 8.0, 8.1, 8.9, 10.0, 10.6, 10.8, 11.6]
WEEKEND_MPH = [10.9, 11.3, 12.0, 13.2, 14.8, 17.4, 16.5, 15.6, 13.3, 12.4, 10.7, 10.6,
               9.6, 8.8, 9.5, 9.2, 9.1, 8.6, 9.0, 8.7, 9.9, 9.7, 10.0, 11.2]
# Manhattan zones (TLC id, zip, relative pickup frequency); other zones carry no zip.
MANHATTAN = np.array([
    (237, 10065, 9), (161, 10019, 8), (236, 10028, 8), (162, 10022, 7.5), (186, 10001, 7.3),
    (230, 10036, 7), (48, 10019, 6.6), (142, 10023, 6.3), (234, 10003, 6.2), (170, 10016, 6.2),
    (239, 10024, 5.2), (163, 10019, 5.2), (79, 10009, 4.8), (141, 10065, 4.7), (107, 10010, 4.6),
    (164, 10018, 4.6), (229, 10022, 4.4), (68, 10011, 4.4), (238, 10025, 4.2), (263, 10128, 3.9),
    (249, 10014, 3.8), (100, 10018, 3.8), (140, 10021, 3.6), (90, 10010, 3.3), (113, 10003, 3.3),
    (231, 10013, 3), (246, 10001, 3), (114, 10012, 2.7), (143, 10023, 2.7), (262, 10028, 2.6),
    (233, 10017, 2.6), (43, 10024, 2.5), (148, 10002, 2.2), (137, 10016, 2.2), (158, 10014, 2.1),
    (144, 10012, 2), (151, 10025, 1.9), (50, 10019, 1.7), (13, 10280, 1.6), (211, 10012, 1.5),
    (75, 10029, 1.4), (87, 10038, 1.3), (125, 10013, 1.2), (166, 10027, 1.2), (74, 10035, .8),
    (88, 10004, .8), (41, 10026, .7), (24, 10025, .5), (224, 10009, .4), (42, 10030, .3),
])
MANHATTAN_ZONES = MANHATTAN[:, 0].astype(int)
ZIP_OF_ZONE = np.zeros(264, dtype=np.int32)  # 0 = no zip
ZIP_OF_ZONE[MANHATTAN_ZONES] = MANHATTAN[:, 1]
ZIP_OF_ZONE[[JFK, LGA]] = [11430, 11371]
OUTER_ZONES = np.setdiff1d(np.arange(1, 264), [*MANHATTAN_ZONES, JFK, LGA])
# Trip kinds: (share, median miles, log-sd). Local = within Manhattan, crosstown = one end
# outside it; airport distances from real JFK flat-fare, JFK metered and LaGuardia trips.
LOCAL, CROSSTOWN, JFK_FLAT, JFK_METERED, LAGUARDIA = range(5)
KINDS = [(.811, 1.3, .62), (.115, 4.6, .55), (.02, 18.0, .09), (.012, 13.0, .4), (.032, 9.7, .22)]
ODD_FARE_SHARE = .004  # negotiated and out-of-city fares the meter does not explain


@dataclass(frozen=True)
class DayShape:
    volume: float = 1.0
    distance_scale: float = 1.0
    speed_scale: float = 1.0
    airport_scale: float = 1.0
    hour_shift: int = 0
    rules: MeterRules = METER_2016


SCENARIO_SHAPES = {
    "demand_collapse": DayShape(volume=.15, distance_scale=.85, speed_scale=1.45, airport_scale=.3),
    "fare_rule_change": DayShape(rules=MeterRules(initial=3.00, unit_price=.625, jfk_flat=65.0)),
    "longer_trips": DayShape(distance_scale=3.0),
    "rush_shift": DayShape(hour_shift=-4),
}


def _day_trips(day: date, trips_per_day: float, shape: DayShape) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([SEED, day.toordinal()])
    weekday, weekend = day.weekday(), day.weekday() >= 5
    daily_traffic = rng.lognormal(0, .08)  # weather, events: one shock shared by the whole day
    n = rng.poisson(trips_per_day * DAY_VOLUME[weekday] * shape.volume * rng.lognormal(0, .05))
    hours_profile = np.roll(WEEKEND_HOURS if weekend else WEEKDAY_HOURS, shape.hour_shift)
    hour = rng.choice(24, n, p=hours_profile / hours_profile.sum())
    seconds = hour * 3600 + rng.integers(0, 3600, n)

    shares = np.array([k[0] for k in KINDS]) * [1, 1, *[shape.airport_scale] * 3]
    kind = rng.choice(len(KINDS), n, p=shares / shares.sum())
    median, log_sd = np.array([k[1:] for k in KINDS]).T
    miles = median[kind] * np.exp(log_sd[kind] * rng.standard_normal(n))
    miles = np.where(kind <= CROSSTOWN, miles * shape.distance_scale, miles).clip(.05).round(2)

    # Longer trips reach avenues and highways: faster on average, and less at the mercy of
    # one jammed block, so their speed varies less.
    log_length = np.log(miles / 1.6)
    traffic = np.exp((.40 - .05 * log_length).clip(.22, .5) * rng.standard_normal(n))
    typical_mph = np.roll(WEEKEND_MPH if weekend else WEEKDAY_MPH, shape.hour_shift)[hour]
    length_effect = np.exp(log_length * np.where(miles > 1.6, .42, .18))
    mph = (typical_mph * length_effect * shape.speed_scale * daily_traffic * traffic).clip(2, 55)
    hours_driving = miles / mph
    # Meter split, fitted on real fares: time spent below ~12 mph crawls at 6 mph, the rest
    # moves at 36 mph; the meter charges slow minutes or moving miles, never both.
    slow_hours = ((36 * hours_driving - miles) / 30).clip(0, hours_driving)
    fare = meter_fare((miles - 6 * slow_hours).clip(0), 60 * slow_hours, shape.rules)
    fare = np.where(kind == JFK_FLAT, shape.rules.jfk_flat, fare)
    odd = rng.random(n) < ODD_FARE_SHARE
    fare[odd] = rng.lognormal(np.log(45), .6, odd.sum()).round(2)

    manhattan = rng.choice(MANHATTAN_ZONES, (2, n), p=MANHATTAN[:, 2] / MANHATTAN[:, 2].sum())
    outer = rng.choice(OUTER_ZONES, n)
    airport = np.select([kind == LAGUARDIA, kind >= JFK_FLAT], [LGA, JFK], 0)
    one_end = np.where(kind == JFK_METERED, outer, manhattan[0])
    other_end = np.select([kind == LOCAL, kind == CROSSTOWN], [manhattan[1], outer], airport)
    # Real airport trips start at the airport about three times as often as they end there.
    airport_first = np.where(kind >= JFK_FLAT, .75, .5) > rng.random(n)
    pickup_zone = np.where(airport_first, other_end, one_end)
    dropoff_zone = np.where(airport_first, one_end, other_end)
    order = np.argsort(seconds, kind="stable")
    midnight = np.datetime64(day, "us")
    return {
        TRIP_ID: np.char.mod(f"syn-{day:%Y%m%d}-%05d", np.arange(n)),
        PICKUP_TIME: midnight + seconds[order].astype("timedelta64[s]"),
        DROPOFF_TIME: midnight + (seconds + np.round(hours_driving * 3600))[order].astype("timedelta64[s]"),
        "trip_distance": miles[order], "fare_amount": fare[order],
        "pickup_location_id": pickup_zone[order], "dropoff_location_id": dropoff_zone[order],
    }


def _nyc_naive(moment: datetime | date | pd.Timestamp) -> pd.Timestamp:
    moment = pd.Timestamp(moment)
    return moment if moment.tzinfo is None else moment.tz_convert("America/New_York").tz_localize(None)


def generate_trips(start: datetime | date | pd.Timestamp, end: datetime | date | pd.Timestamp,
                   scenario: Scenario | None = None, trips_per_day: float = 365.5) -> pd.DataFrame:
    """Trips with pickups in [start, end), by pickup time, in the schema's TRIP_COLUMNS."""
    start, end = _nyc_naive(start), _nyc_naive(end)
    # Whole days, then the window: a trip never depends on which window asked for it.
    days = pd.date_range(start.normalize(), end.ceil("D"), freq="D", inclusive="left").date
    parts = [
        _day_trips(day, trips_per_day, SCENARIO_SHAPES[scenario.name]
                   if scenario is not None and day >= scenario.start else DayShape())
        for day in days
    ]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in TRIP_COLUMNS.items()})
    columns = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}
    for end_of_trip in ("pickup", "dropoff"):
        zips = ZIP_OF_ZONE[columns[f"{end_of_trip}_location_id"]]
        columns[f"{end_of_trip}_zip"] = pd.arrays.IntegerArray(zips, zips == 0)
    trips = pd.DataFrame({c: columns[c] for c in TRIP_COLUMNS}).astype(TRIP_COLUMNS)
    in_window = ((trips[PICKUP_TIME] >= start) & (trips[PICKUP_TIME] < end)).to_numpy()
    return trips[in_window].reset_index(drop=True)
