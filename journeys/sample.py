"""A seeded generator of realistic multi-channel customer journeys with planted effects.

Journeys walk a Markov chain over touchpoints from awareness to purchase to repeat purchase or churn.
Planted effects (documented in ``sample_data/README.md`` and checked by tests):

1. **Mobile checkout problem**: on mobile, ``checkout -> purchase`` happens far less often and
   ``checkout -> chat`` far more (with low CSAT and complaints about payment).
2. **E-mail converts**: customers acquired by e-mail purchase more often than those from ads or social.
3. **Bad service churns**: a call-centre contact with CSAT <= 2 is often followed by ``account_closed``.
4. **Store visits close**: ``store_visit`` leads to a purchase nearly half the time.
5. **Buyers come back** (BG/NBD-like): after a first purchase a customer returns to buy again at their own rate
   (gamma across customers) until they drop out, which they may do after each repeat purchase (beta across
   customers). A return visit walks product_view -> add_to_cart -> checkout, where the device's chain decides, so
   the mobile checkout problem costs repeat purchases too. Each customer has a spend level (gamma, mean 1).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

TOUCHPOINTS = (
    "ad_impression", "ad_click", "social_post", "email_open", "email_click", "home", "search", "product_view",
    "add_to_cart", "checkout", "purchase", "delivery", "review", "store_visit", "chat", "call_centre",
    "unsubscribe", "account_closed",
)
_CHANNEL = {
    "ad_impression": "ads", "ad_click": "ads", "social_post": "social", "email_open": "email", "email_click": "email",
    "delivery": "email", "unsubscribe": "email", "store_visit": "store", "chat": "chat", "call_centre": "call centre",
    "account_closed": "call centre",
}
_WEB = ("home", "search", "product_view", "add_to_cart", "checkout", "purchase", "review")
_IDX = {t: i for i, t in enumerate(TOUCHPOINTS)}
END = len(TOUCHPOINTS)
_ROWS: dict[str, dict[str, float]] = {
    "ad_impression": {"ad_click": 0.35, "home": 0.15, "ad_impression": 0.10},
    "ad_click": {"home": 0.30, "product_view": 0.50},
    "social_post": {"home": 0.25, "product_view": 0.25, "social_post": 0.10},
    "email_open": {"email_click": 0.45, "email_open": 0.10, "unsubscribe": 0.05},
    "email_click": {"product_view": 0.60, "home": 0.25},
    "home": {"product_view": 0.45, "search": 0.25, "chat": 0.03},
    "search": {"product_view": 0.60, "search": 0.10},
    "product_view": {"product_view": 0.25, "add_to_cart": 0.28, "search": 0.08, "store_visit": 0.04, "chat": 0.03},
    "add_to_cart": {"checkout": 0.55, "product_view": 0.15},
    "checkout": {"purchase": 0.62, "chat": 0.05},
    "purchase": {"delivery": 0.80},
    "delivery": {"review": 0.20, "email_open": 0.35, "call_centre": 0.10, "ad_impression": 0.05},
    "review": {"email_open": 0.30},
    "store_visit": {"purchase": 0.45, "product_view": 0.10},
    "chat": {"product_view": 0.20, "checkout": 0.20, "call_centre": 0.10},
    "call_centre": {"purchase": 0.10, "account_closed": 0.08},
    "unsubscribe": {},
    "account_closed": {},
}
DEVICES, DEVICE_P = ("desktop", "mobile", "tablet"), (0.45, 0.45, 0.10)
COUNTRIES = ("DE", "FR", "GB", "US", "ES", "IT", "NL", "PL")
COUNTRY_P = (0.22, 0.14, 0.16, 0.2, 0.08, 0.08, 0.07, 0.05)
ACQUISITION = ("ads", "social", "email", "organic", "referral")
ACQ_P = (0.3, 0.2, 0.15, 0.25, 0.1)
_START = {
    "ads": {"ad_impression": 0.7, "ad_click": 0.3}, "social": {"social_post": 1.0},
    "email": {"email_open": 1.0}, "organic": {"home": 0.6, "search": 0.4}, "referral": {"product_view": 1.0},
}
_GOOD_FEEDBACK = ("Quick and helpful, thanks", "Solved my problem in minutes", "Friendly agent", "Great service")
_BAD_FEEDBACK = ("Payment failed twice on my phone", "Checkout button did nothing on mobile",
                 "Waited 40 minutes on hold", "Nobody could fix my delivery problem", "Still not resolved")
EVENTS_PER_CUSTOMER = 3.5
MAX_STEPS = 250
#: customers start within START_DAYS of 2025-01-01; the export is taken END_DAYS after it (nothing later)
START_DAYS, END_DAYS = 300, 310
#: return visits per week ~ gamma(RETURN_SHAPE, scale RETURN_SCALE); dropout after a repeat purchase ~ beta(DROP_A, DROP_B)
RETURN_SHAPE, RETURN_SCALE = 0.6, 0.08
DROP_A, DROP_B = 1.0, 3.0
#: a customer's spend level ~ gamma(SPEND_SHAPE, 1 / SPEND_SHAPE): mean 1, some customers order far more
SPEND_SHAPE = 2.0
#: where a return visit starts (then product_view -> add_to_cart -> checkout)
_RETURN_ENTRY = {"email_click": 0.4, "home": 0.35, "search": 0.25}


def _matrix(mobile: bool) -> np.ndarray:
    """Cumulative transition probabilities, END last. Mobile carries the checkout problem."""
    m = np.zeros((END + 1, END + 1))
    for src, row in _ROWS.items():
        row = dict(row)
        if src == "checkout" and mobile:
            row = {"purchase": 0.28, "chat": 0.20}
        for dst, p in row.items():
            m[_IDX[src], _IDX[dst]] = p
        m[_IDX[src], END] = 1.0 - sum(row.values())
    m[END, END] = 1.0
    return np.cumsum(m, axis=1)


def _choose(rng: np.random.Generator, cum: np.ndarray) -> np.ndarray:
    """One draw per row of a cumulative-probability matrix."""
    u = np.asarray(rng.random(cum.shape[0]))[:, None]
    return np.minimum((u > cum).sum(axis=1), cum.shape[1] - 1)


CHUNK_EVENTS = 1_000_000


def generate(events: int, *, seed: int = 7) -> pa.Table:
    """Exactly ``events`` events (whole customers, the last one cut short), sorted by time like an export."""
    return _generate_exact(events, seed, 0, 0)[0]


def generate_chunks(events: int, *, seed: int = 7, chunk: int = CHUNK_EVENTS) -> Iterator[pa.Table]:
    """``events`` events in pieces of at most ``chunk`` events, so memory stays bounded at any size
    (writing 10M events as Parquet peaks at about 1.6 GB).

    Up to ``chunk`` events this is exactly :func:`generate`. Beyond, each piece holds its own customers
    (ids and sessions continue from the previous piece, seeds derive from ``seed``) and is sorted by time
    within itself: an export written in batches.
    """
    if events <= chunk:
        yield generate(events, seed=seed)
        return
    done, customers, sessions, piece = 0, 0, 0, 0
    while done < events:
        size = min(chunk, events - done)
        table, used, last_session = _generate_exact(size, seed * 1_000_003 + piece, customers, sessions)
        yield table
        done, customers, sessions, piece = done + size, customers + used, last_session, piece + 1


def _generate_exact(events: int, seed: int, cust_offset: int, session_offset: int) -> tuple[pa.Table, int, int]:
    n = max(1, int(events / EVENTS_PER_CUSTOMER * 1.3) + 10)
    while True:
        table, last_session = _generate(events, n, seed, cust_offset, session_offset)
        if table.num_rows >= events:
            return table, n, last_session
        n *= 2


def _generate(events: int, n: int, seed: int, cust_offset: int = 0, session_offset: int = 0) -> tuple[pa.Table, int]:
    rng = np.random.default_rng(seed)
    device = rng.choice(len(DEVICES), n, p=DEVICE_P)
    country = rng.choice(len(COUNTRIES), n, p=COUNTRY_P)
    acq = rng.choice(len(ACQUISITION), n, p=ACQ_P)
    uses_app = rng.random(n) < np.where(device == 1, 0.5, 0.1)
    origin = np.datetime64("2025-01-01T00:00:00", "s")
    start = origin + rng.integers(0, START_DAYS * 86400, n).astype("timedelta64[s]")
    cohort = np.datetime_as_string(start - rng.integers(0, 200, n).astype("timedelta64[D]"), unit="M")
    cums = {False: _matrix(False), True: _matrix(True)}
    state = np.empty(n, dtype=np.int64)
    for a, name in enumerate(ACQUISITION):
        rows = np.flatnonzero(acq == a)
        firsts = list(_START[name])
        state[rows] = [_IDX[t] for t in np.array(firsts)[rng.choice(len(firsts), rows.size, p=list(_START[name].values()))]]
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("cust", "state", "t", "csat")}
    clock = start.astype("int64")
    export_end = int((origin + np.timedelta64(END_DAYS, "D")).astype("int64"))
    returns = _Returns.draw(np.random.default_rng([seed, 5]), n, export_end)
    active = np.arange(n)
    for _ in range(MAX_STEPS):
        if active.size == 0:
            break
        st = state[active]
        csat = np.full(active.size, np.nan)
        service = (st == _IDX["chat"]) | (st == _IDX["call_centre"])
        unhappy = service & (rng.random(active.size) < np.where(device[active] == 1, 0.55, 0.2))
        csat[service] = np.where(unhappy[service], rng.integers(1, 3, service.sum()), rng.integers(3, 6, service.sum()))
        cols["cust"].append(active)
        cols["state"].append(st)
        cols["t"].append(clock[active].copy())
        cols["csat"].append(csat)
        nxt = np.empty(active.size, dtype=np.int64)
        mob = device[active] == 1
        for flag in (False, True):
            rows = np.flatnonzero(mob == flag)
            nxt[rows] = _choose(rng, cums[flag][st[rows]])
        # planted: e-mail-acquired customers add to cart and buy more; bad service churns
        email = (acq[active] == 2) & (st == _IDX["product_view"]) & (nxt == END) & (rng.random(active.size) < 0.8)
        nxt[email] = _IDX["add_to_cart"]
        angry = (st == _IDX["call_centre"]) & (csat <= 2) & (rng.random(active.size) < 0.45)
        nxt[angry] = _IDX["account_closed"]
        returns.step(active, st, nxt)
        same_session = np.isin(nxt, [_IDX[t] for t in (*_WEB, "chat", "store_visit", "ad_click", "email_click")])
        gap = np.where(same_session, rng.exponential(120, active.size), rng.exponential(2.5 * 86400, active.size))
        clock[active] += np.maximum(1, gap).astype(np.int64)
        returns.come_back(active, st, nxt, clock)
        nxt[clock[active] >= returns.end] = END  # the export was taken then
        state[active] = nxt
        active = active[nxt != END]
    cust = np.concatenate(cols["cust"])
    order = np.lexsort((np.concatenate(cols["t"]), cust))
    cust, st, t, csat = cust[order], np.concatenate(cols["state"])[order], np.concatenate(cols["t"])[order], np.concatenate(cols["csat"])[order]
    keep = min(events, cust.size)
    cust, st, t, csat = cust[:keep], st[:keep], t[:keep], csat[:keep]
    new_session = np.ones(keep, dtype=bool)
    new_session[1:] = (cust[1:] != cust[:-1]) | (t[1:] - t[:-1] > 1800)
    session_no = np.cumsum(new_session) + session_offset
    tp = np.array(TOUCHPOINTS)[st]
    web_channel = np.where(uses_app[cust], "app", "web")
    channel = np.array([_CHANNEL.get(x, "") for x in TOUCHPOINTS])[st]
    channel = np.where(channel == "", web_channel, channel)
    revenue = np.where(tp == "purchase", np.round(rng.lognormal(4.2, 0.6, keep) * np.where(device[cust] == 0, 1.2, 1.0)
                                                   * returns.spend[cust], 2), np.nan)
    bad = np.array(_BAD_FEEDBACK)[rng.integers(0, len(_BAD_FEEDBACK), keep)]
    good = np.array(_GOOD_FEEDBACK)[rng.integers(0, len(_GOOD_FEEDBACK), keep)]
    has_text = ~np.isnan(csat) & (rng.random(keep) < 0.6)
    feedback = np.where(has_text, np.where(csat <= 2, bad, good).astype(object), np.array(None, dtype=object))
    ts = t.astype("datetime64[s]")
    table = pa.table({
        "customer_id": pa.array(np.char.add("C", np.char.zfill((cust + cust_offset).astype(str), 7))),
        "timestamp": pa.array(np.char.add(np.datetime_as_string(ts, unit="s"), "Z")),
        "touchpoint": pa.array(tp),
        "channel": pa.array(channel),
        "session_id": pa.array(np.char.add("S", session_no.astype(str))),
        "revenue": pa.array(revenue, mask=np.isnan(revenue)),
        "csat": pa.array(csat, mask=np.isnan(csat)),
        "feedback": pa.array(feedback, type=pa.string()),
        "device": pa.array(np.array(DEVICES)[device[cust]]),
        "country": pa.array(np.array(COUNTRIES)[country[cust]]),
        "acquisition_channel": pa.array(np.array(ACQUISITION)[acq[cust]]),
        "signup_cohort": pa.array(cohort[cust]),
    })
    return table.take(pa.array(np.argsort(t, kind="stable"))), int(session_no[-1]) if keep else session_offset


class _Returns:
    """Planted effect 5, a BG/NBD-like repeat-purchase process riding on the chain: a buyer whose journey ends
    comes back after an exponential wait at their own rate, unless they dropped out (a coin with their own
    dropout chance after each repeat purchase), closed the account, unsubscribed, or the wait runs past the end."""

    def __init__(self, rng: np.random.Generator, rate: np.ndarray, dropout: np.ndarray, spend: np.ndarray,
                 end: int) -> None:
        self.rng, self.rate, self.dropout, self.spend, self.end = rng, rate, dropout, spend, end
        self.bought = np.zeros(rate.size, dtype=bool)
        self.gone = np.zeros(rate.size, dtype=bool)
        self.intent = np.zeros(rate.size, dtype=bool)  # on a return visit, until it reaches checkout

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, end: int) -> _Returns:
        return cls(rng, rng.gamma(RETURN_SHAPE, RETURN_SCALE, n) / (7 * 86400), rng.beta(DROP_A, DROP_B, n),
                   rng.gamma(SPEND_SHAPE, 1 / SPEND_SHAPE, n), end)

    def step(self, active: np.ndarray, st: np.ndarray, nxt: np.ndarray) -> None:
        """Note purchases and dropouts; walk a return visit product_view -> add_to_cart -> checkout."""
        bought = st == _IDX["purchase"]
        repeat = active[bought & self.bought[active]]
        self.gone[repeat] |= self.rng.random(repeat.size) < self.dropout[repeat]
        self.bought[active[bought]] = True
        want = self.intent[active]
        for src, dst in (("email_click", "product_view"), ("home", "product_view"), ("search", "product_view"),
                         ("product_view", "add_to_cart"), ("add_to_cart", "checkout")):
            nxt[want & (st == _IDX[src])] = _IDX[dst]
        self.intent[active[st == _IDX["checkout"]]] = False  # from checkout on, the device's chain decides

    def come_back(self, active: np.ndarray, st: np.ndarray, nxt: np.ndarray, clock: np.ndarray) -> None:
        """Turn the end of a live buyer's journey into a return visit after an exponential wait."""
        closed = (st == _IDX["account_closed"]) | (st == _IDX["unsubscribe"])
        back = active[(nxt == END) & ~closed]
        back = back[self.bought[back] & ~self.gone[back]]
        wait = self.rng.exponential(1.0, back.size) / self.rate[back]
        when = clock[back] + np.minimum(wait, 2.0 ** 40).astype(np.int64)
        due = when < self.end
        back, when = back[due], when[due]
        clock[back] = when
        self.intent[back] = True
        entry = list(_RETURN_ENTRY)
        picks = self.rng.choice(len(entry), back.size, p=list(_RETURN_ENTRY.values()))
        nxt[np.searchsorted(active, back)] = np.array([_IDX[t] for t in entry], dtype=np.int64)[picks]


def write(tables: pa.Table | Iterable[pa.Table], out: str | Path) -> Path:
    """Write one table or a stream of pieces as Parquet (``.parquet``), gzip CSV (``.csv.gz``) or CSV."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pieces = iter([tables] if isinstance(tables, pa.Table) else tables)
    first = next(pieces)
    if out.suffix == ".parquet":
        with pq.ParquetWriter(out, first.schema) as writer:
            for table in itertools.chain([first], pieces):
                writer.write_table(table, row_group_size=1 << 20)
    else:
        with contextlib.ExitStack() as stack:
            sink = stack.enter_context(pa.CompressedOutputStream(str(out), "gzip")) if out.name.endswith(".gz") \
                else str(out)
            writer = stack.enter_context(pacsv.CSVWriter(sink, first.schema))
            for table in itertools.chain([first], pieces):
                writer.write_table(table)
    return out



# ---- the same events as the exports of five systems ------------------------------------------------

#: channel -> the system whose export holds those events
SYSTEMS = {"web": "web", "app": "web", "ads": "web", "social": "web", "chat": "web", "email": "email",
           "call centre": "call_centre", "store": "store"}
#: web touchpoints at which a visitor is logged in (the web export then carries the user id)
LOGGED_IN = ("add_to_cart", "checkout", "purchase", "review", "chat")
SOURCE_IDS = {"web": "cookie_id", "email": "email", "call_centre": "phone", "store": "loyalty_card"}


def person_ids(number: np.ndarray) -> dict[str, np.ndarray]:
    """Each system's id for customer numbers: bijections of the number, so ids never collide."""
    n = number.astype(np.int64)
    return {
        "cookie_id": np.char.add("ck-", np.char.zfill(((n * 0x9E3779B97) % (1 << 40)).astype(str), 13)),
        "user_id": np.char.add("u", np.char.zfill(((n * 7919) % 1_000_003).astype(str), 7)),
        "email": np.char.add(np.char.add("customer", n.astype(str)), "@example.com"),
        "phone": np.char.add("+447700", np.char.zfill(((n * 7907) % 1_000_003).astype(str), 7)),
        "loyalty_card": np.char.add("L", np.char.zfill(((n * 104729) % 100_000_007).astype(str), 9)),
    }


def split_sources(table: pa.Table) -> dict[str, pa.Table]:
    """The same events as five exports: web analytics (cookie id, plus the user id on logged-in events),
    the e-mail platform (address), the call centre (phone), the store tills (loyalty card), and a CRM
    extract linking user id, address, phone and card for every customer with an account (any customer
    seen outside the web, or logged in). Stitched back together they are exactly ``table``'s journeys."""
    number = np.asarray(pc.cast(pc.utf8_slice_codeunits(table["customer_id"], 1), pa.int64()))
    system = np.array([SYSTEMS[c] for c in table["channel"].to_pylist()])
    ids = person_ids(number)
    web = system == "web"
    account = np.zeros(int(number.max()) + 1, dtype=bool)
    account[number[~web]] = True
    touch = np.asarray(table["touchpoint"].to_numpy(zero_copy_only=False))
    logged = web & np.isin(touch, LOGGED_IN)
    account[number[logged]] = True
    # an account holder with web events logs in at least once: on their last web event
    last_web = np.zeros(len(number), dtype=bool)
    rows = np.flatnonzero(web)
    order = rows[np.lexsort((rows, number[rows]))]
    ends = np.r_[number[order][1:] != number[order][:-1], True]
    last_web[order[ends]] = True
    logged |= last_web & account[number]
    rest = table.drop_columns(["customer_id"])
    out: dict[str, pa.Table] = {}
    for name, id_col in SOURCE_IDS.items():
        pick = system == name
        part = rest.filter(pa.array(pick))
        part = part.add_column(0, id_col, pa.array(ids[id_col][pick]))
        if name == "web":
            user = np.where(logged[pick], ids["user_id"][pick], None)
            part = part.add_column(1, "user_id", pa.array(user, type=pa.string()))
        out[name] = part
    members = np.flatnonzero(account)
    crm = person_ids(members)
    seen = {s: np.zeros(len(account), dtype=bool) for s in ("call_centre", "store")}
    for s in seen:
        seen[s][number[system == s]] = True
    out["crm"] = pa.table({
        "user_id": pa.array(crm["user_id"]), "email": pa.array(crm["email"]),
        # a phone or a card only where the customer gave one (everyone who called or shopped did)
        "phone": pa.array(crm["phone"], mask=~(seen["call_centre"][members] | (members % 3 == 0))),
        "loyalty_card": pa.array(crm["loyalty_card"], mask=~(seen["store"][members] | (members % 4 == 0))),
    })
    return out


#: the bundled sample (``sample_data/``): its size and seed, and the file name of each export in ``sources/``
BUNDLE_EVENTS, BUNDLE_SEED = 40_000, 7
BUNDLE_SOURCES = {"web": "web_analytics.csv", "email": "email_platform.csv", "call_centre": "call_centre.csv",
                  "store": "store_purchases.csv", "crm": "crm_identities.csv"}


def write_bundle(folder: str | Path, *, events: int = BUNDLE_EVENTS, seed: int = BUNDLE_SEED) -> Path:
    """Write the bundled sample: ``shop_events.csv`` and the same events as five exports in ``sources/``
    (split from the CSV as read back, text columns kept as text, so both hold exactly the same values)."""
    folder = Path(folder)
    whole = write(generate(events, seed=seed), folder / "shop_events.csv")
    text = ("customer_id", "timestamp", "touchpoint", "channel", "session_id", "feedback", "device", "country",
            "acquisition_channel", "signup_cohort")
    table = pacsv.read_csv(whole, convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(text, pa.string())))
    (folder / "sources").mkdir(exist_ok=True)
    for system, part in split_sources(table).items():
        pacsv.write_csv(part, folder / "sources" / BUNDLE_SOURCES[system])
    return whole


if __name__ == "__main__":  # python -m journeys.sample: rewrite the bundled sample in sample_data/
    print(write_bundle(Path(__file__).resolve().parent.parent / "sample_data"))
