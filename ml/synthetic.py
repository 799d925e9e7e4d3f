"""Two seeded synthetic systems for demos and fast tests.

``synthetic-a`` is an HPC kernel/RAS log with a BGL-like header; ``synthetic-b`` is a Java
microservice log. Their vocabularies differ, but they share anomaly *meanings* worded
differently ("no such file", "connection refused", "out of memory", "hardware fault"),
plus two system-specific anomaly kinds each — the situation transfer learning addresses.

Normal traffic interleaves multi-line workflows (request -> query -> response,
job start -> heartbeats -> job end), includes rare normal templates (rare is not
anomalous) and normal WARN/ERROR lines (retries, user errors), so neither rarity nor
level gives the labels away. Anomalies come in bursts of 1-5 lines.

Line layouts (the label token is present only when ``label_token=True``)::

    synthetic-a: [<Label>] <Timestamp> <Node> <Level> <Component>: <Content>
    synthetic-b: [<Label>] <Date> <Time> <Level> [<Thread>] <Component> - <Content>

``<Label>`` is ``-`` for a normal line, else the anomaly's category (KERNMEM, NOFILE, ...).
Read them with the presets ``synthetic-a`` / ``synthetic-b`` (label token) or
``synthetic-a-nolabel`` / ``synthetic-b-nolabel``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

SYSTEMS = ("synthetic-a", "synthetic-b")
_MAX_ACTIVE = 5         # workflows running at once, so their lines interleave
_P_START = 0.3          # chance per line of starting another workflow while below _MAX_ACTIVE
_MEAN_GAP_S = 0.4       # mean seconds between lines
_START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)  # fixed zone: same lines on every machine
_BUFFER = 4096


@dataclass
class SyntheticLog:
    """Generated lines and their ground truth.

    :param format: the preset to read ``lines`` with
    :param label_rule: spec for ``label_rule_from_spec``; ``None`` when labels are not in the lines
    """

    name: str
    lines: list[str]
    labels: np.ndarray
    format: str
    label_rule: str | None


def generate(
    name: str, n_lines: int = 20000, anomaly_rate: float = 0.03, seed: int = 0, label_token: bool = True
) -> SyntheticLog:
    """Generate one synthetic system's log, deterministic for ``(name, seed)``.

    :param name: ``"synthetic-a"`` or ``"synthetic-b"``
    :param anomaly_rate: share of anomalous lines (rounded to a whole number of lines)
    :param label_token: start each line with ``-`` or the anomaly category
    """
    system = _system(name)
    if n_lines < 1:
        raise ValueError(f"n_lines must be at least 1, got {n_lines}")
    if not 0.0 <= anomaly_rate < 1.0:
        raise ValueError(f"anomaly_rate must be in [0, 1), got {anomaly_rate}")
    # The system index is mixed into the seed so a and b never share a random stream.
    r = Rand(np.random.default_rng([seed, SYSTEMS.index(name)]), _BUFFER)
    n_anomalous = round(n_lines * anomaly_rate)
    normal = _normal_events(r, system, n_lines - n_anomalous)
    events, labels = _merge(r, normal, _bursts(r, system, n_anomalous))
    lines = _render(r, system, events, labels, label_token)
    labels = [int(token != "-") for token in labels]
    fmt = name if label_token else f"{name}-nolabel"
    return SyntheticLog(name, lines, np.asarray(labels, dtype=np.int8), fmt, "first_token" if label_token else None)


def write(log: SyntheticLog, directory: str | Path) -> Path:
    """Write ``<name>.log`` (and ``<name>.labels.csv`` with ``line,label`` when the lines carry no label).

    :returns: the path of the log file
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"{log.name}.log"
    log_path.write_text("".join(f"{line}\n" for line in log.lines), encoding="utf-8")
    if log.label_rule is None:
        rows = "".join(f"{i},{int(label)}\n" for i, label in enumerate(log.labels, start=1))
        (folder / f"{log.name}.labels.csv").write_text("line,label\n" + rows, encoding="utf-8")
    return log_path


@dataclass(frozen=True)
class _System:
    workflows: list[tuple[float, Callable[[Rand, list[str]], Iterator[Event]]]]
    anomalies: list[Anomaly]
    places: Callable[[Rand], list[str]]    # node names (a) or thread names (b)
    render: Callable[[str, float, Event], str]


def _system(name: str) -> _System:
    if name == "synthetic-a":
        return _System(A_WORKFLOWS, A_ANOMALIES, _a_places, _render_a)
    if name == "synthetic-b":
        return _System(B_WORKFLOWS, B_ANOMALIES, _b_places, _render_b)
    raise ValueError(f"unknown synthetic system {name!r}; choose one of {', '.join(SYSTEMS)}")


def _normal_events(r: Rand, system: _System, n: int) -> list[Event]:
    """Interleave up to _MAX_ACTIVE workflows until ``n`` lines exist."""
    places = system.places(r)
    weights = np.cumsum([w for w, _ in system.workflows])
    starts = [make for _, make in system.workflows]
    out: list[Event] = []
    active: list[Iterator[Event]] = []
    while len(out) < n:
        if not active or (len(active) < _MAX_ACTIVE and r.u() < _P_START):
            pick = int(np.searchsorted(weights, r.u() * weights[-1], side="right"))
            active.append(starts[min(pick, len(starts) - 1)](r, places))
        i = r.integer(0, len(active))
        event = next(active[i], None)
        if event is None:
            active.pop(i)
        else:
            out.append(event)
    return out


def _bursts(r: Rand, system: _System, n_anomalous: int) -> list[tuple[str, list[Event]]]:
    """Bursts of 1-5 lines of one anomaly on one node/thread, ``n_anomalous`` lines in all."""
    places = system.places(r)
    bursts = []
    left = n_anomalous
    while left > 0:
        size = min(left, r.integer(1, 6))
        anomaly = r.pick(system.anomalies)
        place = r.pick(places)
        bursts.append((anomaly.category, [anomaly.event(r, place) for _ in range(size)]))
        left -= size
    return bursts


def _merge(r: Rand, normal: list[Event], bursts) -> tuple[list[Event], list[str]]:
    """Insert each burst at a random gap between normal lines; returns events and label tokens."""
    positions = sorted((r.integer(0, len(normal) + 1), i) for i in range(len(bursts)))
    events: list[Event] = []
    labels: list[str] = []
    done = 0
    for pos, i in positions:
        events.extend(normal[done:pos])
        labels.extend(["-"] * (pos - done))
        category, burst = bursts[i]
        events.extend(burst)
        labels.extend([category] * len(burst))
        done = pos
    events.extend(normal[done:])
    labels.extend(["-"] * (len(normal) - done))
    return events, labels


def _render(r: Rand, system: _System, events, tokens: list[str], label_token: bool) -> list[str]:
    """Give each line a timestamp (monotonic, exponential gaps) and its header."""
    lines = []
    t = 0.0
    for event, token in zip(events, tokens):
        t += -math.log(1.0 - r.u()) * _MEAN_GAP_S
        line = system.render(token, t, event)
        lines.append(line if label_token else line.split(" ", 1)[1])
    return lines


def _render_a(token: str, t: float, event: Event) -> str:
    level, node, component, content = event
    epoch = int(_START.timestamp() + t)
    return f"{token} {epoch} {node} {level} {component}: {content}"


def _render_b(token: str, t: float, event: Event) -> str:
    level, thread, component, content = event
    stamp = _START + timedelta(seconds=t)
    millis = stamp.microsecond // 1000
    return f"{token} {stamp:%Y-%m-%d %H:%M:%S},{millis:03d} {level} [{thread}] {component} - {content}"


# --- randomness and vocabulary ------------------------------------------------------------

Event = tuple[str, str, str, str]   # level, node or thread, component, content


class Rand:
    """Uniform draws from a numpy Generator, fetched in blocks: one call per line is too slow."""

    def __init__(self, rng: np.random.Generator, block: int):
        self._rng = rng
        self._block = block
        self._buf: list[float] = []
        self._i = 0

    def u(self) -> float:
        """A float in [0, 1)."""
        if self._i == len(self._buf):
            self._buf = self._rng.random(self._block).tolist()
            self._i = 0
        self._i += 1
        return self._buf[self._i - 1]

    def integer(self, lo: int, hi: int) -> int:
        """An int in [lo, hi)."""
        return lo + int(self.u() * (hi - lo))

    def pick(self, seq):
        return seq[int(self.u() * len(seq))]

    def hex(self, digits: int = 8) -> str:
        # At most 8 digits per draw: a float carries 53 random bits, so wider values would end in zeros.
        chunks = [format(int(self.u() * 16**8), "08x") for _ in range((digits + 7) // 8)]
        return "".join(chunks)[:digits]

    def ip(self) -> str:
        return f"10.{self.integer(0, 8)}.{self.integer(0, 255)}.{self.integer(1, 255)}"


@dataclass(frozen=True)
class Anomaly:
    """One anomaly kind: a label category and its wordings as (level, component, content maker)."""

    category: str
    templates: tuple[tuple[str, str, Callable[[Rand], str]], ...]

    def event(self, r: Rand, place: str) -> Event:
        level, component, make = r.pick(self.templates)
        return level, place, component, make(r)


# synthetic-a: an HPC machine (kernel, RAS, scheduler, parallel file system)

_PARTITIONS = ("batch", "debug", "long", "gpu")
_DIMMS = ("J11", "J12", "J13", "J14", "J21", "J22")


def _a_places(r: Rand) -> list[str]:
    return [f"R{r.integer(0, 64):02d}-M{r.integer(0, 2)}-N{r.integer(0, 16):X}-J{r.integer(2, 18):02d}" for _ in range(96)]


def _user(r: Rand) -> str:
    return f"user{r.integer(1, 80):02d}"


def _scratch(r: Rand) -> str:
    return f"/scratch/{_user(r)}/run{r.integer(1, 500)}/out.{r.integer(0, 64)}.dat"


def _a_job(r: Rand, nodes: list[str]) -> Iterator[Event]:
    job, node, n = r.integer(10000, 99999), r.pick(nodes), r.integer(1, 129)
    yield "INFO", node, "sched", f"job {job} submitted by {_user(r)} to partition {r.pick(_PARTITIONS)} ({n} nodes)"
    yield "INFO", node, "ciod", f"job {job} started with {n * 4} ranks"
    for _ in range(r.integer(0, 5)):
        yield "INFO", node, "ciod", f"job {job} heartbeat ok, load {r.u() * 4:.2f}"
    if r.u() < 0.3:
        yield "INFO", node, "fs", f"job {job} wrote checkpoint {_scratch(r)}"
    yield "INFO", node, "ciod", f"job {job} finished, exit status 0, elapsed {r.integer(30, 86400)} s"
    yield "INFO", node, "sched", f"job {job} completed, released {n} nodes"


def _a_user_error(r: Rand, nodes: list[str]) -> Iterator[Event]:
    # A user's program failing is routine on a shared machine: ERROR/FATAL level, label normal.
    job, node = r.integer(10000, 99999), r.pick(nodes)
    yield "INFO", node, "ciod", f"job {job} started with {r.integer(1, 513)} ranks"
    if r.u() < 0.3:
        yield "FATAL", node, "ciod", f"job {job} rank 0 called MPI_Abort with errorcode {r.integer(1, 9)}"
    yield "ERROR", node, "ciod", f"job {job} exited with status {r.pick((1, 2, 127, 139))}"
    yield "INFO", node, "sched", f"job {job} failed, notified {_user(r)}"


def _a_requeue(r: Rand, nodes: list[str]) -> Iterator[Event]:
    job, node = r.integer(10000, 99999), r.pick(nodes)
    yield "WARN", node, "sched", f"node {node} drained for maintenance window {r.integer(1, 50)}"
    yield "WARN", node, "sched", f"job {job} requeued after drain, retry 1/3"
    yield "INFO", r.pick(nodes), "ciod", f"job {job} restarted with {r.integer(1, 513)} ranks"


def _a_ras(r: Rand, nodes: list[str]) -> Iterator[Event]:
    node = r.pick(nodes)
    for _ in range(r.integer(1, 4)):
        kind = r.integer(0, 4)
        if kind == 0:
            yield "INFO", node, "ras", f"ddr: corrected single-bit error at 0x{r.hex()}"
        elif kind == 1:
            yield "INFO", node, "ras", f"{r.integer(1, 9)} L3 EDRAM error(s) (dcr 0x{r.hex(4)}) detected and corrected"
        elif kind == 2:
            yield ("INFO", node, "ras",
                   f"torus receiver {r.pick(('x+', 'x-', 'y+', 'z-'))} input pipe error(s) (dcr 0x{r.hex(4)}) detected and corrected")
        else:
            yield ("WARN", node, "ras",
                   f"corrected ECC error count {r.integer(1, 40)} on DIMM {r.pick(_DIMMS)} below threshold 64")


def _a_io(r: Rand, nodes: list[str]) -> Iterator[Event]:
    node = r.pick(nodes)
    yield "INFO", node, "fs", f"mount /gpfs/{r.pick(('home', 'projects', 'scratch'))} on {node} ok"
    yield "INFO", node, "fs", f"lustre client {r.ip()} connected to ost{r.integer(0, 48)}"
    if r.u() < 0.5:
        yield "INFO", node, "fs", f"flushed {r.integer(1, 5000)} dirty pages to {_scratch(r)}"


def _a_net(r: Rand, nodes: list[str]) -> Iterator[Event]:
    node = r.pick(nodes)
    yield "INFO", node, "net", f"torus link {r.integer(0, 6)} retrain complete in {r.integer(1, 900)} ms"
    if r.u() < 0.5:
        yield "INFO", node, "net", f"tree network packet counter {r.integer(0, 1 << 20)} reset"


def _a_kernel(r: Rand, nodes: list[str]) -> Iterator[Event]:
    node = r.pick(nodes)
    kind = r.integer(0, 3)
    if kind == 0:
        yield "INFO", node, "kernel", "instruction cache parity error corrected"
    elif kind == 1:
        yield "INFO", node, "kernel", f"CE sym {r.integer(0, 32)}, at 0x{r.hex()}, mask 0x{r.hex(2)}"
    else:
        yield "INFO", node, "kernel", f"generating core.{r.integer(1, 9999)}"


def _a_health(r: Rand, nodes: list[str]) -> Iterator[Event]:
    node = r.pick(nodes)
    yield "INFO", node, "health", f"node {node} temperature {r.integer(35, 70)} C, fan {r.integer(3000, 9000)} rpm, ok"
    yield "INFO", node, "health", f"node {node} power {r.integer(180, 420)} W within limits"


def _a_login(r: Rand, nodes: list[str]) -> Iterator[Event]:
    node, user = r.pick(nodes), _user(r)
    yield "INFO", node, "auth", f"accepted publickey for {user} from {r.ip()} port {r.integer(30000, 65000)}"
    yield "INFO", node, "auth", f"session closed for {user}"


def _a_rare(r: Rand, nodes: list[str]) -> Iterator[Event]:
    # Rare but normal: an unusual template must not be mistaken for an anomaly.
    node = r.pick(nodes)
    kind = r.integer(0, 6)
    if kind == 0:
        yield "INFO", node, "ras", f"service action {r.integer(100, 999)} started on node card {r.hex(2)} by admin"
    elif kind == 1:
        yield "INFO", node, "kernel", f"cpu {r.integer(0, 64)} microcode updated to revision 0x{r.hex(4)}"
    elif kind == 2:
        yield ("INFO", node, "sched",
               f"maintenance reservation {r.integer(1, 99)} created for rack R{r.integer(0, 64):02d}")
    elif kind == 3:
        yield "INFO", node, "fs", f"quota for {_user(r)} raised to {r.integer(1, 50) * 100} GB"
    elif kind == 4:
        yield "INFO", node, "fs", "scrub of /gpfs/projects finished, 0 errors found"
    else:
        yield "WARN", node, "kernel", "clock source switched from tsc to hpet"


A_WORKFLOWS = [
    (30.0, _a_job), (4.0, _a_user_error), (2.0, _a_requeue), (14.0, _a_ras), (10.0, _a_io),
    (8.0, _a_net), (10.0, _a_kernel), (8.0, _a_health), (6.0, _a_login), (0.6, _a_rare),
]

A_ANOMALIES = [
    Anomaly("FSNOENT", (
        ("ERROR", "fs", lambda r: f"open {_scratch(r)} failed: ENOENT"),
        ("ERROR", "fs", lambda r: f"stat {_scratch(r)}: No such file or directory"),
        ("FATAL", "ciod", lambda r: f"exec of /gpfs/home/{_user(r)}/bin/solver failed: file not found"),
    )),
    Anomaly("NETREF", (
        ("ERROR", "net", lambda r: f"connect to {r.ip()}:{r.integer(1024, 9000)} failed: ECONNREFUSED"),
        ("FATAL", "ciod", lambda r: f"rpc to io node {r.ip()} refused connection (errno 111)"),
        ("WARN", "fs", lambda r: f"nfs server {r.ip()} refused mount request"),
    )),
    Anomaly("KERNMEM", (
        ("FATAL", "kernel",
         lambda r: f"out of memory: killed process {r.integer(300, 65000)} (solver) total-vm:{r.integer(10**6, 10**8)}kB"),
        ("WARN", "kernel", lambda r: f"page allocation failure order:{r.integer(0, 10)} mode:0x{r.hex(4)}"),
        ("ERROR", "ciod",
         lambda r: f"job {r.integer(10000, 99999)} rank {r.integer(0, 512)} cannot allocate {r.integer(64, 4096)} MB: out of memory"),
    )),
    Anomaly("HWFAULT", (
        ("FATAL", "ras",
         lambda r: f"machine check exception on cpu {r.integer(0, 64)}: bank {r.integer(0, 8)} status 0x{r.hex(16)}"),
        ("FATAL", "ras", lambda r: f"uncorrectable ECC error on DIMM {r.pick(_DIMMS)} at 0x{r.hex()}"),
        ("ERROR", "ras", lambda r: f"node card {r.hex(2)} power module fault, voltage {r.u() * 2:.2f} V out of range"),
    )),
    Anomaly("JOBTO", (
        ("ERROR", "sched",
         lambda r: f"job {r.integer(10000, 99999)} killed: watchdog timeout after {r.integer(300, 3600)} s without heartbeat"),
        ("FATAL", "ciod", lambda r: f"lost contact with compute processes of job {r.integer(10000, 99999)}"),
    )),
    Anomaly("KERNPANIC", (
        ("FATAL", "kernel", lambda r: "kernel panic - not syncing: fatal exception in interrupt"),
        ("FATAL", "kernel", lambda r: f"Oops: {r.integer(1, 9999):04d} [#1] SMP, RIP at 0x{r.hex(16)}"),
    )),
]


# synthetic-b: a Java order service (HTTP API, database, Kafka, scheduled jobs)

_CTRL = "c.a.s.api.OrderController"
_REPO = "c.a.s.repo.OrderRepository"
_SVC = "c.a.s.OrderService"


def _b_places(r: Rand) -> list[str]:
    return [f"http-nio-8080-exec-{i}" for i in range(1, 41)] + [f"pool-3-thread-{i}" for i in range(1, 17)]


def _http(r: Rand) -> str:
    return f"http-nio-8080-exec-{r.integer(1, 41)}"


def _b_post_order(r: Rand, _places: list[str]) -> Iterator[Event]:
    t, rid = _http(r), r.hex(12)
    yield "INFO", t, _CTRL, f"Received POST /api/orders from {r.ip()} request_id={rid}"
    yield "DEBUG", t, _REPO, f"Executing SELECT id, status FROM orders WHERE customer_id={r.integer(1, 10**6)}"
    yield "DEBUG", t, _REPO, f"Query returned {r.integer(0, 50)} rows in {r.integer(1, 80)} ms"
    yield "INFO", t, _SVC, f"Reserved stock for sku SKU-{r.integer(1000, 99999)} qty {r.integer(1, 10)}"
    yield ("INFO", t, _SVC,
           f"Created order {r.integer(10**6, 10**7)} total {r.integer(5, 900)}.{r.integer(0, 100):02d} EUR")
    yield "INFO", t, _CTRL, f"Completed request {rid} status=201 in {r.integer(20, 400)} ms"


def _b_get_order(r: Rand, _places: list[str]) -> Iterator[Event]:
    t, rid, order = _http(r), r.hex(12), r.integer(10**6, 10**7)
    yield "INFO", t, _CTRL, f"Received GET /api/orders/{order} from {r.ip()} request_id={rid}"
    if r.u() < 0.6:
        yield "DEBUG", t, _SVC, f"Cache hit for order {order}"
    else:
        yield "DEBUG", t, _SVC, f"Cache miss for order {order}"
        yield "DEBUG", t, _REPO, f"Executing SELECT * FROM orders WHERE id={order}"
        yield "DEBUG", t, _REPO, f"Query returned 1 rows in {r.integer(1, 80)} ms"
    yield "INFO", t, _CTRL, f"Completed request {rid} status=200 in {r.integer(2, 200)} ms"


def _b_job(r: Rand, _places: list[str]) -> Iterator[Event]:
    run, batches = r.integer(1, 10**5), r.integer(2, 6)
    yield "INFO", "scheduling-1", "c.a.s.jobs.ReconcileJob", f"Starting scheduled job reconcile-payments run {run}"
    for i in range(1, batches):
        yield ("INFO", "scheduling-1", "c.a.s.jobs.ReconcileJob",
               f"Job reconcile-payments progress {i}/{batches} batches")
    yield ("INFO", "scheduling-1", "c.a.s.jobs.ReconcileJob",
           f"Finished job reconcile-payments run {run} in {r.integer(200, 90000)} ms, {r.integer(0, 5000)} records reconciled")


def _b_kafka(r: Rand, _places: list[str]) -> Iterator[Event]:
    t = f"kafka-consumer-{r.integer(1, 5)}"
    yield ("DEBUG", t, "c.a.s.events.OrderListener",
           f"Consumed message offset={r.integer(0, 10**7)} partition={r.integer(0, 12)} topic=orders.events")
    yield "INFO", t, "c.a.s.events.Publisher", f"Published event OrderShipped id={r.hex(8)}-{r.hex(4)}-{r.hex(4)}"


def _b_health(r: Rand, _places: list[str]) -> Iterator[Event]:
    if r.u() < 0.5:
        yield ("INFO", "actuator-1", "c.a.s.health.HealthIndicator",
               f"Health check UP: db=UP, cache=UP, disk free {r.integer(5, 500)} GB")
    else:
        heap = r.integer(512, 4096)
        yield ("INFO", "gc-logger", "c.a.s.metrics.GcMonitor",
               f"GC pause (G1 Evacuation Pause) {r.integer(2, 250)} ms, heap {heap}M->{heap // 2}M(8192M)")


def _b_retry(r: Rand, _places: list[str]) -> Iterator[Event]:
    # A timeout that a retry fixes is normal operation, even though it logs WARN.
    t = _http(r)
    yield ("WARN", t, "c.a.s.client.PaymentClient",
           f"Call to payment-gateway timed out after {r.integer(1000, 5000)} ms, retry 1/3")
    yield ("INFO", t, "c.a.s.client.PaymentClient",
           f"Retry 1/3 for payment-gateway succeeded after {r.integer(50, 900)} ms")


def _b_validation(r: Rand, _places: list[str]) -> Iterator[Event]:
    # Bad client input is logged at ERROR by this service but is not a fault of the system.
    t, rid = _http(r), r.hex(12)
    yield "INFO", t, _CTRL, f"Received POST /api/orders from {r.ip()} request_id={rid}"
    yield ("ERROR", t, "c.a.s.api.RequestValidator",
           f"Validation failed for request {rid}: field 'sku' must not be empty")
    yield "INFO", t, _CTRL, f"Completed request {rid} status=400 in {r.integer(1, 30)} ms"


def _b_auth(r: Rand, _places: list[str]) -> Iterator[Event]:
    user = f"customer{r.integer(1, 5000)}"
    if r.u() < 0.85:
        yield "INFO", _http(r), "c.a.s.auth.LoginService", f"User {user} logged in from {r.ip()}"
    else:
        yield "WARN", _http(r), "c.a.s.auth.LoginService", f"Login failed for user {user}: bad credentials"


def _b_slow(r: Rand, _places: list[str]) -> Iterator[Event]:
    yield ("WARN", _http(r), _REPO,
           f"Slow query took {r.integer(500, 4000)} ms: SELECT * FROM order_items WHERE order_id={r.integer(10**6, 10**7)}")


def _b_rare(r: Rand, _places: list[str]) -> Iterator[Event]:
    # Rare but normal: an unusual template must not be mistaken for an anomaly.
    kind = r.integer(0, 6)
    if kind == 0:
        yield ("INFO", "main", "c.a.s.config.FeatureFlags",
               f"Feature flag {r.pick(('new-checkout', 'fast-pricing', 'eu-vat'))} set to {r.pick(('true', 'false'))} by admin")
    elif kind == 1:
        yield ("INFO", "main", "c.a.s.security.TlsReloader",
               f"Refreshed TLS certificate for orders.internal, expires in {r.integer(30, 365)} days")
    elif kind == 2:
        yield ("INFO", "main", "c.a.s.cache.CacheManager",
               f"Cache pricing rebuilt in {r.integer(100, 9000)} ms with {r.integer(10, 90000)} entries")
    elif kind == 3:
        yield "INFO", "main", "c.a.s.config.ConfigWatcher", "Configuration reloaded from /etc/orders/application.yml"
    elif kind == 4:
        yield ("INFO", "main", "org.flywaydb.core.Flyway",
               f"Migration V{r.integer(10, 99)}__add_index applied in {r.integer(10, 900)} ms")
    else:
        yield "INFO", "main", "c.a.s.health.DiskCheck", "Disk check of /dev/sda passed: 0 bad sectors"


B_WORKFLOWS = [
    (22.0, _b_post_order), (26.0, _b_get_order), (5.0, _b_job), (14.0, _b_kafka), (10.0, _b_health),
    (3.0, _b_retry), (3.0, _b_validation), (8.0, _b_auth), (2.0, _b_slow), (0.6, _b_rare),
]

B_ANOMALIES = [
    Anomaly("NOFILE", (
        ("ERROR", "c.a.s.storage.InvoiceStore",
         lambda r: f"java.io.FileNotFoundException: /data/invoices/{r.hex(8)}.pdf (No such file or directory)"),
        ("ERROR", "c.a.s.storage.InvoiceStore",
         lambda r: f"java.nio.file.NoSuchFileException: /data/exports/batch-{r.integer(1, 999)}.csv"),
        ("WARN", "c.a.s.render.InvoiceRenderer",
         lambda r: "Template /var/app/templates/invoice.html not found, cannot render invoice"),
    )),
    Anomaly("CONNREF", (
        ("ERROR", "c.a.s.client.InventoryClient",
         lambda r: f"java.net.ConnectException: Connection refused (Connection refused) calling http://{r.ip()}:8081/v1/stock"),
        ("ERROR", "com.zaxxer.hikari.pool.HikariPool",
         lambda r: f"Unable to acquire JDBC Connection to jdbc:postgresql://{r.ip()}:5432/orders: connection refused"),
        ("WARN", "o.a.kafka.clients.NetworkClient",
         lambda r: f"Connection to node -1 ({r.ip()}:9092) could not be established: connection refused"),
    )),
    Anomaly("OOM", (
        ("ERROR", _SVC, lambda r: "java.lang.OutOfMemoryError: Java heap space"),
        ("ERROR", "c.a.s.jobs.ReconcileJob", lambda r: "java.lang.OutOfMemoryError: GC overhead limit exceeded"),
        ("WARN", "io.netty.util.internal.PlatformDependent",
         lambda r: f"Failed to allocate {r.integer(16, 1024)} MB of direct buffer memory"),
    )),
    Anomaly("HWERR", (
        ("ERROR", "c.a.s.storage.SegmentWriter",
         lambda r: f"java.io.IOException: Input/output error writing segment {r.integer(1, 10**5)} to /dev/nvme{r.integer(0, 4)}n1"),
        ("ERROR", "c.a.s.health.DiskCheck",
         lambda r: f"Disk /dev/sd{r.pick('abcd')} reported SMART failure: {r.integer(8, 4000)} reallocated sectors"),
        ("ERROR", "c.a.s.storage.VolumeReader",
         lambda r: f"Unrecoverable read error on volume vol-{r.hex(6)} at sector {r.integer(0, 10**9)}"),
    )),
    Anomaly("NPE", (
        ("ERROR", _SVC,
         lambda r: 'java.lang.NullPointerException: Cannot invoke "Customer.getAddress()" because "customer" is null'),
        ("ERROR", _CTRL,
         lambda r: f"Unhandled exception in OrderService.price(OrderService.java:{r.integer(40, 400)}): NullPointerException"),
    )),
    Anomaly("POOLX", (
        ("ERROR", _SVC,
         lambda r: f"java.util.concurrent.RejectedExecutionException: Task {r.hex(12)} rejected from pool-3 (active={r.integer(32, 64)}, queued={r.integer(1000, 5000)})"),
        ("ERROR", "com.zaxxer.hikari.pool.HikariPool",
         lambda r: f"HikariPool-1 - Connection is not available, request timed out after {r.integer(30000, 60000)} ms"),
    )),
]
