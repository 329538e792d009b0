"""Synthetic NYC yellow-cab trips, priced by the published rate card, with scenarios of drift.

Trips start and end around real hot spots (Manhattan neighbourhoods, outer boroughs, JFK, LaGuardia,
Newark) at NYC-like hours, weekdays and passenger counts. Traffic is the noise: how many minutes a cab
crawls below 12 mph (billed by time, not distance) varies with the hour and at random, so two trips
with the same endpoints cost different amounts, as in real data. Everything is vectorised with numpy.

`fare_amount` is what the rider pays before the tip: metered fare or flat fare, the surcharges on the
rate card, and tolls.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass, field, replace
from datetime import date, datetime

import numpy as np
import pandas as pd

from taxifare.core.trips.schema import haversine_km


@dataclass(frozen=True)
class RateCard:
    initial: float
    per_unit: float  # per 1/5 mile at 12 mph or faster, or per 60 s slower or stopped
    night: float  # 8pm-6am
    rush: float  # weekdays 4pm-8pm
    improvement: float
    mta: float
    congestion: float  # trips starting or ending in Manhattan south of 96th St
    jfk_flat: float  # JFK <-> Manhattan, instead of the meter
    jfk_rush: float  # on the JFK flat fare, weekdays 4pm-8pm
    lga: float
    newark: float
    toll: float  # a typical bridge/tunnel toll; not on the rate card, passed on to the rider


# The published NYC yellow-cab rate card; the surcharges it lists for "until 18 Dec 2022" are
# applied to every earlier date too.
CARD_2012 = RateCard(2.50, 0.50, 0.50, 1.00, 0.30, 0.50, 2.50, 52.0, 4.50, 0.0, 17.50, 5.76)
CARD_2009 = replace(CARD_2012, per_unit=0.40, jfk_flat=45.0, toll=5.33)
CARD_2022 = RateCard(3.00, 0.70, 1.00, 2.50, 1.00, 0.50, 2.50, 70.0, 5.00, 5.00, 20.00, 6.94)
# A hypothetical next increase of the size of the Dec 2022 one, so a concept shift can happen in any year.
CARD_NEXT = RateCard(3.50, 0.90, 1.50, 3.50, 1.00, 0.50, 2.75, 88.0, 6.00, 6.00, 24.00, 6.94)
CARD_CHANGES = (date(2012, 9, 4), date(2022, 12, 19))
HISTORY = (CARD_2009, CARD_2012, CARD_2022)

# Trip kinds, as the meter sees them.
CITY, JFK_FLAT, LGA, NEWARK = 0, 1, 2, 3
KINDS = {"city": CITY, "jfk_flat": JFK_FLAT, "lga": LGA, "newark": NEWARK}


def card_on(day: date) -> RateCard:
    """The official card in force on a day."""
    return HISTORY[bisect.bisect_right(CARD_CHANGES, day)]


def fare_for(
    pickup_datetime: datetime,
    metered_miles: float,
    slow_minutes: float,
    *,
    kind: str = "city",
    congestion: bool = False,
    tolls: float = 0.0,
    card: RateCard | None = None,
) -> float:
    """The fare of one trip: `metered_miles` driven at 12 mph or more, `slow_minutes` below it."""
    card = card or card_on(pickup_datetime.date())
    fare = fares(
        np.array([pickup_datetime], dtype="datetime64[ns]"),
        np.array([metered_miles]),
        np.array([slow_minutes]),
        kind=np.array([KINDS[kind]]),
        congestion=np.array([congestion]),
        tolls=np.array([tolls]),
        card_index=np.zeros(1, dtype=int),
        cards=(card,),
    )
    return float(fare[0])


def fares(pickup, metered_miles, slow_minutes, *, kind, congestion, tolls, card_index, cards) -> np.ndarray:
    """Vectorised fares; trip i is priced by `cards[card_index[i]]`."""
    hour, weekday = _hour_and_weekday(pickup)
    night = (hour >= 20) | (hour < 6)
    rush = (weekday < 5) & (hour >= 16) & (hour < 20)
    # The meter bills completed units; the epsilon keeps 2.0 miles from becoming 9.999... fifths.
    units = np.floor(metered_miles * 5 + 1e-9) + np.floor(slow_minutes + 1e-9)
    fare = np.empty(len(units))
    for i, card in enumerate(cards):
        chosen = card_index == i
        if chosen.all():
            chosen = slice(None)  # the usual case: one card for all, no copies
        elif not chosen.any():
            continue
        fare[chosen] = _price(
            card,
            units[chosen],
            night=night[chosen],
            rush=rush[chosen],
            kind=kind[chosen],
            congestion=congestion[chosen],
        )
    return np.round(fare + tolls, 2)


def _price(card: RateCard, units, *, night, rush, kind, congestion) -> np.ndarray:
    metered = card.initial + units * card.per_unit + night * card.night + rush * card.rush
    fare = np.where(kind == JFK_FLAT, card.jfk_flat + rush * card.jfk_rush, metered)
    fare += card.mta + card.improvement + congestion * card.congestion
    return fare + (kind == LGA) * card.lga + (kind == NEWARK) * card.newark


def _hour_and_weekday(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    days = times.astype("datetime64[D]")
    hour = ((times - days) // np.timedelta64(1, "h")).astype(np.int64)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    return hour, weekday


# --- places ------------------------------------------------------------------------------------

# name: (longitude, latitude, spread km, pickup weight, dropoff weight)
HOT_SPOTS = {
    "midtown": (-73.9840, 40.7549, 0.9, 0.26, 0.22),
    "upper_east_side": (-73.9590, 40.7720, 0.8, 0.12, 0.11),
    "upper_west_side": (-73.9760, 40.7850, 0.7, 0.09, 0.09),
    "chelsea_flatiron": (-73.9930, 40.7420, 0.7, 0.13, 0.12),
    "village_soho": (-74.0010, 40.7280, 0.6, 0.10, 0.10),
    "east_village_les": (-73.9860, 40.7240, 0.6, 0.07, 0.08),
    "financial_district": (-74.0090, 40.7080, 0.5, 0.07, 0.07),
    "harlem": (-73.9470, 40.8090, 0.8, 0.03, 0.04),
    "williamsburg": (-73.9580, 40.7140, 0.9, 0.03, 0.05),
    "downtown_brooklyn": (-73.9880, 40.6920, 0.8, 0.03, 0.05),
    "park_slope": (-73.9790, 40.6720, 0.9, 0.01, 0.03),
    "long_island_city_astoria": (-73.9270, 40.7580, 1.0, 0.03, 0.04),
    "south_bronx": (-73.9170, 40.8170, 1.0, 0.01, 0.02),
}
# name: (longitude, latitude, spread km, radius km that counts as "at the airport", share of airport trips)
AIRPORTS = {
    "jfk": (-73.7822, 40.6441, 0.5, 3.0, 0.45),
    "lga": (-73.8720, 40.7740, 0.3, 1.8, 0.45),
    "ewr": (-74.1810, 40.6900, 0.5, 3.0, 0.10),
}
# Manhattan as two rough polygons (lon, lat), split at 96th St where the congestion zone ends.
MANHATTAN_SOUTH_OF_96TH = (
    (-74.0195, 40.7005), (-74.0165, 40.7150), (-74.0125, 40.7300), (-74.0105, 40.7450),
    (-74.0065, 40.7560), (-73.9980, 40.7680), (-73.9900, 40.7800), (-73.9830, 40.7920),
    (-73.9790, 40.7990), (-73.9420, 40.7835), (-73.9440, 40.7760), (-73.9585, 40.7590),
    (-73.9713, 40.7435), (-73.9730, 40.7300), (-73.9750, 40.7190), (-73.9770, 40.7110),
    (-73.9980, 40.7075), (-74.0110, 40.7010),
)  # fmt: skip
MANHATTAN_NORTH_OF_96TH = (
    (-73.9790, 40.7990), (-73.9600, 40.8195), (-73.9470, 40.8500), (-73.9270, 40.8770),
    (-73.9110, 40.8730), (-73.9250, 40.8570), (-73.9330, 40.8350), (-73.9335, 40.8120),
    (-73.9300, 40.8030), (-73.9420, 40.7835),
)  # fmt: skip
KM_PER_DEGREE_LAT = 111.2
KM_PER_DEGREE_LON = 84.3  # at NYC's latitude


def in_polygon(lon: np.ndarray, lat: np.ndarray, polygon) -> np.ndarray:
    """Even-odd ray casting, vectorised over the points."""
    inside = np.zeros(lon.shape, dtype=bool)
    vertices = np.asarray(polygon)
    for (x1, y1), (x2, y2) in zip(vertices, np.roll(vertices, -1, axis=0), strict=True):
        crosses = (y1 > lat) != (y2 > lat)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = (x2 - x1) * (lat - y1) / (y2 - y1) + x1
        inside ^= crosses & (lon < x_at)
    return inside


def near(lon: np.ndarray, lat: np.ndarray, airport: str) -> np.ndarray:
    a_lon, a_lat, _, radius, _ = AIRPORTS[airport]
    # Flat-earth distance: exact enough over a few km, and far cheaper than haversine on millions.
    return ((lon - a_lon) * KM_PER_DEGREE_LON) ** 2 + ((lat - a_lat) * KM_PER_DEGREE_LAT) ** 2 <= radius**2


# Manhattan rasterised once into ~50 m cells: a lookup per point instead of a polygon test per edge.
GRID_ORIGIN = (-74.03, 40.69)
GRID_STEP = 0.0005
GRID_SHAPE = (400, 480)  # (lat cells, lon cells): up to 40.89N, 73.79W
SOUTH, NORTH = 1, 2


@functools.cache
def _manhattan_grid() -> np.ndarray:
    lat, lon = np.meshgrid(
        GRID_ORIGIN[1] + (np.arange(GRID_SHAPE[0]) + 0.5) * GRID_STEP,
        GRID_ORIGIN[0] + (np.arange(GRID_SHAPE[1]) + 0.5) * GRID_STEP,
        indexing="ij",
    )
    grid = np.zeros(GRID_SHAPE, dtype=np.int8)
    grid[in_polygon(lon, lat, MANHATTAN_NORTH_OF_96TH)] = NORTH
    grid[in_polygon(lon, lat, MANHATTAN_SOUTH_OF_96TH)] = SOUTH
    return grid


def manhattan_part(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """0 outside Manhattan, SOUTH of 96th St, or NORTH of it."""
    row = np.floor((lat - GRID_ORIGIN[1]) / GRID_STEP).astype(np.int64)
    col = np.floor((lon - GRID_ORIGIN[0]) / GRID_STEP).astype(np.int64)
    inside = (row >= 0) & (row < GRID_SHAPE[0]) & (col >= 0) & (col < GRID_SHAPE[1])
    part = np.zeros(lon.shape, dtype=np.int8)
    part[inside] = _manhattan_grid()[row[inside], col[inside]]
    return part


def trip_kinds(pu_lon, pu_lat, do_lon, do_lat) -> tuple[np.ndarray, np.ndarray]:
    """(kind, congestion) of each trip, from its coordinates only."""
    pu_part, do_part = manhattan_part(pu_lon, pu_lat), manhattan_part(do_lon, do_lat)
    at = {a: (near(pu_lon, pu_lat, a), near(do_lon, do_lat, a)) for a in AIRPORTS}
    kind = np.full(pu_lon.shape, CITY)
    kind[at["lga"][0] | at["lga"][1]] = LGA
    kind[at["ewr"][1]] = NEWARK  # Newark is outside the city: yellow cabs only drive there
    kind[(at["jfk"][0] & (do_part > 0)) | (at["jfk"][1] & (pu_part > 0))] = JFK_FLAT
    return kind, (pu_part == SOUTH) | (do_part == SOUTH)


# --- scenarios ---------------------------------------------------------------------------------

# Share of trips by hour of day (NYC yellow cabs: quiet at 5am, busiest in the evening).
NORMAL_HOURS = (
    34, 25, 18, 13, 10, 10, 21, 37, 46, 47, 45, 46, 49, 49, 51, 51, 50, 57, 64, 66, 61, 58, 54, 46,
)  # fmt: skip
NIGHT_HEAVY_HOURS = tuple(np.roll(NORMAL_HOURS, 6).tolist())  # the evening peak moves past midnight
WEEKDAY_WEIGHTS = np.array([0.95, 1.0, 1.03, 1.06, 1.1, 1.05, 0.85])  # Monday first
# Minutes below 12 mph per mile driven, by hour: rush hours crawl, nights flow.
SLOW_MINUTES_PER_MILE = np.array([
    0.5, 0.4, 0.4, 0.4, 0.4, 0.5, 0.8, 1.4, 1.8, 1.8, 1.6, 1.6, 1.6, 1.6, 1.7, 1.8, 1.9, 2.0, 1.9, 1.5,
    1.1, 0.9, 0.8, 0.6,
])  # fmt: skip
PASSENGER_SHARES = np.array([0.71, 0.14, 0.04, 0.02, 0.06, 0.03])


@dataclass(frozen=True)
class Regime:
    """What trips look like."""

    local_km: float = 1.9  # median straight-line length of a trip within a neighbourhood
    airport_share: float = 0.06
    hours: tuple[float, ...] = NORMAL_HOURS


SHIFTED_REGIME = Regime(local_km=4.0, airport_share=0.25, hours=NIGHT_HEAVY_HOURS)


@dataclass(frozen=True)
class Scenario:
    """Trips follow `base` before `shift_date` and `after` from it on (phased in over `ramp_days`).

    A concept shift sets `new_card`: shifted trips are priced by it instead of the official card.
    `base_card` prices the other trips instead of the official card (a stream whose card changed before).
    """

    name: str = "stationary"
    shift_date: date | None = None
    ramp_days: int = 0
    base: Regime = field(default_factory=Regime)
    after: Regime = field(default_factory=Regime)
    new_card: RateCard | None = None
    base_card: RateCard | None = None

    def shifted_share(self, days: np.ndarray) -> np.ndarray:
        """Per trip day, the probability that a trip follows the shifted regime and card."""
        if self.shift_date is None:
            return np.zeros(days.shape)
        elapsed = (days - np.datetime64(self.shift_date, "D")).astype(np.int64)
        if self.ramp_days <= 0:
            return (elapsed >= 0).astype(float)
        return np.clip((elapsed + 1) / self.ramp_days, 0.0, 1.0)


SCENARIOS = ("stationary", "covariate", "concept", "gradual")


def make_scenario(name: str, shift_date: date | None = None, ramp_days: int = 30) -> Scenario:
    """stationary; covariate (longer trips, more airports, night hours); concept (a new rate card);
    gradual (both, phased in over `ramp_days`)."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    if name == "stationary":
        return Scenario()
    if shift_date is None:
        raise ValueError(f"scenario {name!r} needs a shift date")
    if name == "covariate":
        return Scenario(name, shift_date, after=SHIFTED_REGIME)
    if name == "concept":
        return Scenario(name, shift_date, new_card=CARD_NEXT)
    return Scenario(name, shift_date, ramp_days=ramp_days, after=SHIFTED_REGIME, new_card=CARD_NEXT)


# --- the generator -----------------------------------------------------------------------------


def day_weights(start: date, end: date) -> tuple[np.ndarray, np.ndarray]:
    """The days from `start` to `end` (both included) and their relative trip volumes."""
    if end < start:
        raise ValueError(f"end date {end} is before start date {start}")
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
    weights = WEEKDAY_WEIGHTS[(days.astype(np.int64) + 3) % 7]
    return days, weights / weights.sum()


def generate(n: int, start: date, end: date, scenario: Scenario | None = None, seed: int = 0) -> pd.DataFrame:
    """`n` trips picked up from `start` to `end` (both included), in the canonical trip schema."""
    scenario = scenario or Scenario()
    rng = np.random.default_rng(seed)
    days, weights = day_weights(_as_date(start), _as_date(end))
    day = days[rng.choice(len(days), n, p=weights)]
    shifted = rng.random(n) < scenario.shifted_share(day)
    regimes = ((False, scenario.base), (True, scenario.after))
    hour = np.empty(n, dtype=np.int64)
    for flag, regime in regimes:
        idx = np.flatnonzero(shifted == flag)
        hours = np.asarray(regime.hours, dtype=float)
        hour[idx] = rng.choice(24, len(idx), p=hours / hours.sum())
    pickup = day.astype("datetime64[s]") + (hour * 3600 + rng.integers(0, 3600, n)).astype("timedelta64[s]")
    # Sorting the few time arrays now spares sorting the finished frame.
    order = np.argsort(pickup, kind="stable")
    pickup, day, shifted, hour = (
        pickup[order].astype("datetime64[ns]"),
        day[order],
        shifted[order],
        hour[order],
    )

    pickup_xy, dropoff_xy = np.empty((n, 2)), np.empty((n, 2))
    for flag, regime in regimes:
        idx = np.flatnonzero(shifted == flag)
        pickup_xy[idx], dropoff_xy[idx] = _endpoints(rng, len(idx), regime)
    kind, congestion = trip_kinds(pickup_xy[:, 0], pickup_xy[:, 1], dropoff_xy[:, 0], dropoff_xy[:, 1])
    straight_miles = (
        haversine_km(pickup_xy[:, 0], pickup_xy[:, 1], dropoff_xy[:, 0], dropoff_xy[:, 1]) / 1.609344
    )
    metered_miles, slow_minutes, road_miles = _traffic(rng, straight_miles, hour, kind)

    card_index = np.searchsorted(np.array(CARD_CHANGES, dtype="datetime64[D]"), day, side="right")
    cards = (*HISTORY, scenario.new_card or CARD_NEXT, scenario.base_card or CARD_NEXT)
    if scenario.base_card is not None:
        card_index[~shifted] = len(HISTORY) + 1
    if scenario.new_card is not None:
        card_index[shifted] = len(HISTORY)
    tolls = _tolls(rng, kind, congestion, card_index, cards)
    no_zone = pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
    return pd.DataFrame(
        {
            "pickup_datetime": pickup,
            "pickup_longitude": pickup_xy[:, 0],
            "pickup_latitude": pickup_xy[:, 1],
            "dropoff_longitude": dropoff_xy[:, 0],
            "dropoff_latitude": dropoff_xy[:, 1],
            "passenger_count": rng.choice(np.arange(1, 7, dtype=np.int64), n, p=PASSENGER_SHARES),
            "trip_distance": road_miles.round(2),
            "pu_location_id": no_zone,
            "do_location_id": no_zone.copy(),
            "fare_amount": fares(
                pickup,
                metered_miles,
                slow_minutes,
                kind=kind,
                congestion=congestion,
                tolls=tolls,
                card_index=card_index,
                cards=cards,
            ),
        }
    )


def _endpoints(rng: np.random.Generator, n: int, regime: Regime) -> tuple[np.ndarray, np.ndarray]:
    """Pickup and dropoff (lon, lat) of `n` trips."""
    spots = np.array(list(HOT_SPOTS.values()))
    pickup_p, dropoff_p = spots[:, 3] / spots[:, 3].sum(), spots[:, 4] / spots[:, 4].sum()
    pickup = _around(rng, spots, rng.choice(len(spots), n, p=pickup_p))
    # Most trips stay in the neighbourhood; the rest cross town to another hot spot.
    dropoff = _around(rng, spots, rng.choice(len(spots), n, p=dropoff_p))
    local = rng.random(n) < 0.7
    km = rng.lognormal(np.log(regime.local_km), 0.7, n)
    bearing = rng.uniform(0, 2 * np.pi, n)
    moved = pickup + np.column_stack(
        [km * np.sin(bearing) / KM_PER_DEGREE_LON, km * np.cos(bearing) / KM_PER_DEGREE_LAT]
    )
    dropoff[local] = moved[local]

    airports = np.array(list(AIRPORTS.values()))
    by_air = np.flatnonzero(rng.random(n) < regime.airport_share)
    which = rng.choice(len(airports), len(by_air), p=airports[:, 4])
    at_airport = _around(rng, airports, which)
    # Yellow cabs may not pick up at Newark, so Newark trips always go there.
    from_airport = (rng.random(len(by_air)) < 0.6) & (which != list(AIRPORTS).index("ewr"))
    into_town = _around(rng, spots, rng.choice(len(spots), int(from_airport.sum()), p=dropoff_p))
    pickup[by_air[from_airport]] = at_airport[from_airport]
    dropoff[by_air[from_airport]] = into_town
    dropoff[by_air[~from_airport]] = at_airport[~from_airport]
    return pickup, dropoff


def _around(rng: np.random.Generator, places: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Points scattered normally around the chosen places (columns: lon, lat, spread km, ...)."""
    spread = places[which, 2]
    lon = places[which, 0] + rng.normal(0, 1, len(which)) * spread / KM_PER_DEGREE_LON
    lat = places[which, 1] + rng.normal(0, 1, len(which)) * spread / KM_PER_DEGREE_LAT
    return np.column_stack([lon, lat])


def _traffic(rng, straight_miles, hour, kind) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(miles billed by distance, minutes billed by time, road miles) of each trip."""
    road_miles = np.maximum(straight_miles * (1.2 + rng.gamma(2.0, 0.06, len(hour))), 0.1)
    slow_per_mile = SLOW_MINUTES_PER_MILE[hour] * rng.lognormal(0.0, 0.5, len(hour))
    slow_per_mile = np.where(kind == CITY, slow_per_mile, slow_per_mile * 0.4)  # airport runs use highways
    slow_minutes = slow_per_mile * road_miles
    # A crawling cab still moves (about 4 mph); those miles are billed by time, not by distance.
    crawled = np.minimum(slow_minutes * 4 / 60, road_miles * 0.5)
    return road_miles - crawled, slow_minutes, road_miles


def _tolls(rng, kind, congestion, card_index, cards) -> np.ndarray:
    """Newark trips cross the Hudson; some airport runs take a tunnel; a few city trips a bridge."""
    toll = np.array([c.toll for c in cards])[card_index]
    chance = np.select([kind == NEWARK, kind != CITY, congestion], [1.0, 0.4, 0.02], default=0.05)
    return np.where(rng.random(len(kind)) < chance, toll, 0.0)


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)
