"""Fault injection: the crash-safety promises checked end to end, with real driver and worker processes.

Each scenario runs one study with several `autotune run study.py --storage URL --quiet` drivers and does harm:

  kill    kill -9 a random driver every 0.5-1.5 s (and, one time in three, a random worker process of another) and
          start a replacement, K times; then one final driver on the finished (or nearly finished) study;
  pause   SIGSTOP one of two drivers for longer than the study's stale_after (3 s), then SIGCONT, P times;
  outage  cut the database away for a while, N times: PostgreSQL through a TCP proxy cut for 3 s, SQLite by
          holding its write lock for 12 s (past its 10 s busy timeout).

Afterwards it checks and prints, for each study: the counted finished trials equal n_trials; nothing left RUNNING,
WAITING or PAUSED; no configuration COMPLETE twice; every configuration that ran more than once (the objective logs
each execution) was taken over as stale, and ran at most once more than it was taken over; every driver's exit code
(0, or -9 for a killed one); no traceback in any driver's output; the notices each fault owes; the best trial's
artifact readable with its checksum and its expected bytes. It exits with 1 when any invariant breaks.

    python benchmarks/faults.py [--storage sqlite|postgresql|both] [--kills 8] [--pauses 3] [--outages 3] [--seed 0]

PostgreSQL: $AUTOTUNE_TEST_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/test) names a server on which a
fresh database is created for each scenario and dropped after.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import sqlalchemy as sa  # noqa: E402

PG_SERVER = os.environ.get("AUTOTUNE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ARTIFACT = "model.bin"
ARTIFACT_SIZE = (1 << 20) + 4096  # just over one 1 MiB chunk: the artifact is stored in two

STUDY = '''
import hashlib, json, os, time
import autotune as at


def expected_artifact(x):
    block = hashlib.sha256(repr(x).encode()).digest()
    return (block * (__SIZE__ // len(block) + 1))[:__SIZE__]


def objective(config, trial):
    x = config["x"]
    with open("runs.log", "a") as fh:  # one short line, one write: appends from several processes do not mix
        fh.write(json.dumps({"x": x, "pid": os.getpid(), "trial": trial.number}) + "\\n")
    time.sleep(0.2 + 0.2 * ((x * 1000) % 1))
    trial.save_artifact("__ARTIFACT__", expected_artifact(x))
    return (x - 0.3) ** 2


study = at.Study(name="__NAME__", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=__N__,
                 sampler="random", seed=__SEED__, parallelism=2, stale_after=__STALE__)
'''


def expected_artifact(x: float) -> bytes:
    block = hashlib.sha256(repr(x).encode()).digest()
    return (block * (ARTIFACT_SIZE // len(block) + 1))[:ARTIFACT_SIZE]


# -- drivers and their workers ---------------------------------------------------------------------------------
@dataclass
class Driver:
    label: str
    proc: subprocess.Popen
    folder: str
    killed: bool = False
    paused: int = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        with open(os.path.join(self.folder, f"{self.label}.err")) as fh:
            return fh.read()


def start_driver(folder: str, url: str, label: str) -> Driver:
    env = {k: v for k, v in os.environ.items() if k != "AUTOTUNE_STORAGE"}
    env.update(PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    with open(os.path.join(folder, f"{label}.out"), "w") as out, open(os.path.join(folder, f"{label}.err"), "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "autotune.cli", "run", "study.py", "--storage", url, "--quiet"],
                                cwd=folder, env=env, stdout=out, stderr=err)
    return Driver(label, proc, folder)


def children(pid: int) -> list[int]:
    out = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    return out


def workers(pid: int) -> list[int]:
    """The driver's worker processes (spawned by multiprocessing; its resource tracker left out)."""
    found = []
    for child in children(pid):
        with contextlib.suppress(OSError), open(f"/proc/{child}/cmdline", "rb") as fh:
            if b"spawn_main" in fh.read():
                found.append(child)
    return found


# -- storages ----------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def storage(kind: str, folder: str):
    """The study's URL: a SQLite file in the scenario's folder, or a fresh PostgreSQL database dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{os.path.join(folder, 'studies.db')}"
        return
    name = f"autotune_faults_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


class Monitor:
    """Reads the study's trial rows (directly, never through the proxy a scenario may cut)."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

    def rows(self) -> list:
        try:
            with self.engine.connect() as c:
                return c.execute(sa.text(
                    "SELECT number, state, counted, params, error, origin, retry_of FROM autotune_trials "
                    "ORDER BY number")).all()
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):
            return []  # no tables yet

    def running_pids(self) -> set[int]:
        """The processes of the drivers that own a RUNNING trial now."""
        try:
            with self.engine.connect() as c:
                return {pid for (pid,) in c.execute(sa.text(
                    "SELECT d.pid FROM autotune_trials t JOIN autotune_drivers d ON d.id = t.owner "
                    "WHERE t.state = 'RUNNING'"))}
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):
            return set()

    def counted(self) -> int:
        return sum(r.counted and r.state in ("COMPLETE", "PRUNED", "FAIL") for r in self.rows())

    def close(self) -> None:
        self.engine.dispose()


def stale_pids(rows) -> Counter:
    """How many trials were taken over as stale from each driver process (its pid; 0: a driver whose row was gone)."""
    out: Counter = Counter()
    for r in rows:
        if r.error and r.error.startswith("stale"):
            m = re.search(r"pid (\d+)\)", r.error)
            out[int(m.group(1)) if m else 0] += 1
    return out


# -- one scenario's report -------------------------------------------------------------------------------------
@dataclass
class Report:
    storage: str
    scenario: str
    n_trials: int
    harm: str = ""
    wall: float = 0.0
    figures: dict = field(default_factory=dict)
    lines: list = field(default_factory=list)  # (ok, text)

    def check(self, ok: bool, text: str) -> None:
        self.lines.append((bool(ok), text))

    def note(self, text: str) -> None:
        self.lines.append((None, text))  # a figure, not an invariant

    @property
    def ok(self) -> bool:
        return all(ok is not False for ok, _ in self.lines)


def wait_all(drivers: list[Driver], timeout: float) -> None:
    end = time.time() + timeout
    for d in drivers:
        try:
            d.proc.wait(max(1.0, end - time.time()))
        except subprocess.TimeoutExpired:
            d.proc.kill()  # hung: not a storm kill, so its exit code breaks the invariant
            d.proc.wait()


def verify(rep: Report, url: str, folder: str, drivers: list[Driver], name: str) -> None:
    """The invariants every scenario must keep, checked and added to the report with their figures."""
    mon = Monitor(url)
    rows = mon.rows()
    with mon.engine.connect() as c:
        registered = c.execute(sa.text("SELECT COUNT(*) FROM autotune_drivers")).scalar()
    mon.close()
    n = rep.n_trials
    counted = sum(r.counted and r.state in ("COMPLETE", "PRUNED", "FAIL") for r in rows)
    states = Counter(r.state for r in rows if r.counted)
    rep.check(counted == n, f"counted finished trials: {counted} of n_trials={n} ({dict(sorted(states.items()))}; "
                            f"{len(rows)} rows, {len(rows) - sum(r.counted for r in rows)} uncounted)")
    left = Counter(r.state for r in rows if r.state in ("RUNNING", "WAITING", "PAUSED"))
    rep.check(not left, f"left RUNNING/WAITING/PAUSED: {sum(left.values())} {dict(left) if left else ''}".rstrip())
    complete = Counter(json.loads(r.params)["x"] for r in rows if r.state == "COMPLETE")
    twice = {x: c for x, c in complete.items() if c > 1}
    rep.check(not twice, f"configurations COMPLETE more than once: {len(twice)}"
                         + "".join(f"\n      x={x!r}: " + ", ".join(f"trial {r.number} {r.state} origin={r.origin} "
                                                                 f"retry_of={r.retry_of}" for r in rows
                                                                 if json.loads(r.params)["x"] == x)
                                   for x in twice))
    # each execution of the objective, against the trials taken over as stale
    runs: Counter = Counter()
    torn = 0
    with contextlib.suppress(FileNotFoundError), open(os.path.join(folder, "runs.log")) as fh:
        for line in fh:
            try:
                runs[json.loads(line)["x"]] += 1
            except (ValueError, KeyError):
                torn += 1
    stale_of: Counter = Counter(json.loads(r.params)["x"] for r in rows if r.error and r.error.startswith("stale"))
    known = {json.loads(r.params)["x"] for r in rows}
    again = {x: c for x, c in runs.items() if c > 1}
    unexplained = {x: c for x, c in again.items() if c > 1 + stale_of[x]}
    rep.check(not unexplained and torn == 0,
              f"executions: {sum(runs.values())} of {len(runs)} configurations; {len(again)} ran more than once "
              f"({sum(again.values()) - len(again)} extra runs), each one taken over as stale "
              f"({sum(stale_of.values())} trials taken over): "
              + (f"NOT SO for {unexplained}" if unexplained else "yes") + (f"; {torn} torn log lines" if torn else ""))
    strangers = set(runs) - known
    rep.check(not strangers, f"executions of a configuration no trial holds: {len(strangers)}")
    died = sum(bool(r.error and r.error.startswith("worker died")) for r in rows)
    rep.figures.update(counted=counted, left=sum(left.values()), twice=len(twice), reran=len(again),
                       stale=sum(stale_of.values()), worker_died=died)
    # the drivers
    codes = Counter()
    bad = []
    for d in drivers:
        rc = d.proc.returncode
        codes[rc] += 1
        if rc not in ((0, -signal.SIGKILL) if d.killed else (0,)):
            bad.append(f"{d.label} (pid {d.pid}) exited {rc}")
    rep.check(not bad, f"driver exit codes: {dict(sorted(codes.items()))} over {len(drivers)} drivers "
                       f"({sum(d.killed for d in drivers)} killed)" + "".join(f"\n      {b}" for b in bad))
    tracebacks = [d for d in drivers if "Traceback" in d.stderr()]
    rep.check(not tracebacks, f"drivers with a Traceback in their output: {len(tracebacks)}"
                              + "".join(f"\n      {d.label} ({'killed' if d.killed else f'exit {d.proc.returncode}'}"
                                        f"): {d.stderr().count('Traceback')}x, ending "
                                        + "; ".join(sorted(set(raised(d.stderr())))) for d in tracebacks))
    rep.note(f"driver rows left registered after every driver ended: {registered}")
    rep.figures.update(drivers=len(drivers), tracebacks=len(tracebacks),
                       exits="/".join(f"{c}x{rc}" for rc, c in sorted(codes.items())))
    # the best trial's artifact, read back through the API (checksum verified on read)
    import autotune as at

    try:
        result = at.load_study(name, storage=url)
        path = result.best_artifact(ARTIFACT, dest=os.path.join(folder, "best"))
        with open(path, "rb") as fh:
            data = fh.read()
        same = data == expected_artifact(result.best_params["x"])
        rep.check(same, f"best artifact (trial {result.best_trial.number}, {len(data)} bytes): checksum verified, "
                        f"bytes {'as the objective wrote them' if same else 'DIFFERENT from what it wrote'}")
        rep.figures["artifact"] = "ok" if same else "WRONG"
        result.db.close()
    except Exception as exc:  # noqa: BLE001 - reported as the broken invariant it is
        rep.check(False, f"best artifact unreadable: {type(exc).__name__}: {exc}")
        rep.figures["artifact"] = "FAIL"


def raised(text: str) -> list[str]:
    """The exception line that ends each traceback in a driver's output."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith("Traceback"):
            inside = True
        elif inside and line and not line.startswith(" "):
            out.append(line.strip())
            inside = False
    return out


def notices(drivers: list[Driver], *phrases: str) -> dict[str, list[int]]:
    """How many times each driver's output says each phrase."""
    return {p: [d.stderr().count(p) for d in drivers] for p in phrases}


# -- the scenarios ----------------------------------------------------------------------------------------------
def write_study(folder: str, name: str, n: int, stale: float, seed: int) -> None:
    text = STUDY
    for key, value in {"NAME": name, "N": n, "SEED": seed, "STALE": f"{stale:g}", "SIZE": ARTIFACT_SIZE,
                       "ARTIFACT": ARTIFACT}.items():
        text = text.replace(f"__{key}__", str(value))
    with open(os.path.join(folder, "study.py"), "w") as fh:
        fh.write(text)


def kill_storm(kind: str, folder: str, url: str, args, rng: random.Random) -> Report:
    n = args.n_trials or 150
    rep = Report(kind, "kill", n)
    write_study(folder, "kill", n, 60, args.seed)
    mon = Monitor(url)
    t0 = time.perf_counter()
    drivers = [start_driver(folder, url, f"d{i}") for i in range(3)]
    live = list(drivers)
    kills = worker_kills = 0
    while kills < args.kills:
        time.sleep(rng.uniform(0.5, 1.5))
        live = [d for d in live if d.alive()]
        if not live or mon.counted() >= n:
            break  # the study finished before the storm did
        victim = rng.choice(live)
        if rng.random() < 1 / 3:
            others = [d for d in live if d is not victim] or live
            host = rng.choice(others)
            pids = workers(host.pid)
            if pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(rng.choice(pids), signal.SIGKILL)
                    worker_kills += 1
        victim.proc.send_signal(signal.SIGKILL)
        victim.killed = True
        victim.proc.wait()  # reaped at once, as a shell would
        kills += 1
        fresh = start_driver(folder, url, f"d{len(drivers)}")
        drivers.append(fresh)
        live = [d for d in live if d is not victim] + [fresh]
    wait_all(drivers, 300)
    final = start_driver(folder, url, "final")
    drivers.append(final)
    wait_all([final], 300)
    rep.wall = time.perf_counter() - t0
    mon.close()
    rep.harm = f"{kills} drivers and {worker_kills} worker{'s' if worker_kills != 1 else ''} killed"
    rep.check(kills == args.kills, f"storm: {kills} of {args.kills} driver kills done before the study finished, "
                                   f"{worker_kills} worker kills, {len(drivers)} drivers in all")
    verify(rep, url, folder, drivers, "kill")
    killed = {d.pid for d in drivers if d.killed}
    mon = Monitor(url)
    stale = stale_pids(mon.rows())
    mon.close()
    foreign = {p: c for p, c in stale.items() if p not in killed}
    rep.check(not foreign, f"trials taken over as stale: {sum(stale.values())}, all from killed drivers"
                           + (f"; NOT SO from pids {foreign}" if foreign else ""))
    return rep


def pause_storm(kind: str, folder: str, url: str, args, rng: random.Random) -> Report:
    stale_after, hold = 3.0, 4.5
    n = args.n_trials or 120
    rep = Report(kind, "pause", n)
    write_study(folder, "pause", n, stale_after, args.seed)
    mon = Monitor(url)
    t0 = time.perf_counter()
    drivers = [start_driver(folder, url, f"d{i}") for i in range(2)]
    episodes: list[tuple[Driver, int]] = []  # (paused driver, trials taken over from it before this pause)
    while len(episodes) < args.pauses:
        time.sleep(rng.uniform(1.0, 2.0))
        live = [d for d in drivers if d.alive()]
        if len(live) < 2 or mon.counted() >= n - 4:
            break
        busy = [d for d in live if d.pid in mon.running_pids()]
        if not busy:
            continue  # still starting up
        victim = rng.choice(busy)  # one that runs trials, which the other driver will take over
        episodes.append((victim, stale_pids(mon.rows())[victim.pid]))
        victim.proc.send_signal(signal.SIGSTOP)
        victim.paused += 1
        time.sleep(hold)
        victim.proc.send_signal(signal.SIGCONT)
    wait_all(drivers, 300)
    rep.wall = time.perf_counter() - t0
    rows = mon.rows()
    mon.close()
    rep.harm = f"{len(episodes)} pauses of {hold:g} s (stale_after {stale_after:g} s)"
    rep.check(len(episodes) == args.pauses, f"storm: {len(episodes)} of {args.pauses} pauses of {hold:g} s done "
                                            "before the study finished")
    verify(rep, url, folder, drivers, "pause")
    # each pause in which the other driver took trials over: one 'registered again', and one honest line for each
    # trial taken over when its result arrives
    stale = stale_pids(rows)
    foreign = {p: c for p, c in stale.items() if p not in {d.pid for d in drivers if d.paused}}
    rep.check(not foreign, f"trials taken over as stale: {sum(stale.values())}, all from paused drivers"
                           + (f"; NOT SO from pids {foreign}" if foreign else ""))
    for d in drivers:
        mine = [before for v, before in episodes if v is d]  # taken over before each of its pauses, and at the end
        ends = mine[1:] + [stale[d.pid]] if mine else []
        taken_in = sum(b > a for a, b in zip(mine, ends, strict=True))
        err = d.stderr()
        again, honest = err.count("registered again"), err.count("after another driver took it over as stale")
        rep.check(again == taken_in and honest == stale[d.pid],
                  f"{d.label}: paused {d.paused}x, taken over in {taken_in} of those pauses ({stale[d.pid]} trials); "
                  f"says 'registered again' {again}x (owed {taken_in}), 'after another driver took it over as "
                  f"stale' {honest}x (owed {stale[d.pid]})")
    rep.figures["notices"] = f"{sum(d.stderr().count('registered again') for d in drivers)} re-registered"
    return rep


def outage_storm(kind: str, folder: str, url: str, args, rng: random.Random) -> Report:
    n = args.n_trials or 120
    rep = Report(kind, "outage", n)
    write_study(folder, "outage", n, 60, args.seed)
    mon = Monitor(url)
    proxy = None
    driver_url = url
    if kind == "postgresql":
        from tests.conftest import Proxy

        u = sa.engine.make_url(url)
        proxy = Proxy(u.host or "127.0.0.1", u.port or 5432)
        driver_url = u.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    cut_for = 3.0 if proxy else 12.0
    t0 = time.perf_counter()
    drivers = [start_driver(folder, driver_url, f"d{i}") for i in range(2)]
    done = 0
    try:
        while done < args.outages:
            time.sleep(rng.uniform(1.0, 2.0))
            if not any(d.alive() for d in drivers) or mon.counted() >= n - 4:
                break
            if mon.counted() < 2:
                continue  # let the drivers open the study first
            if proxy:
                proxy.cut()
                time.sleep(cut_for)
                proxy.resume()
            else:
                holder = sqlite3.connect(sa.engine.make_url(url).database, isolation_level=None, timeout=30)
                holder.execute("BEGIN IMMEDIATE")  # SQLite's one writer lock, held past its 10 s busy timeout
                time.sleep(cut_for)
                holder.execute("ROLLBACK")
                holder.close()
            done += 1
        wait_all(drivers, 300)
    finally:
        if proxy:
            proxy.cut()
    rep.wall = time.perf_counter() - t0
    rows = mon.rows()
    mon.close()
    what = "PostgreSQL cut away (proxy)" if proxy else "SQLite write lock held"
    rep.harm = f"{done} x {cut_for:g} s {what}"
    rep.check(done == args.outages, f"storm: {done} of {args.outages} outages of {cut_for:g} s "
                                    f"({what}) done before the study finished")
    verify(rep, url, folder, drivers, "outage")
    stale = stale_pids(rows)
    rep.check(not stale, f"trials taken over as stale: {sum(stale.values())} (every driver was alive throughout)")
    said = notices(drivers, "is unreachable", "is back after", "locked")
    if proxy:
        gone, back = said["is unreachable"], said["is back after"]
        rep.check(sum(gone) >= 1 and gone == back,
                  f"'is unreachable ... retrying' per driver {gone}, 'is back after N s' per driver {back}")
        rep.figures["notices"] = f"{sum(gone)} unreachable/back"
    else:
        rep.check(not any(said["locked"]), f"drivers that said 'locked': {sum(bool(c) for c in said['locked'])} "
                                           "(a held lock is waited out silently)")
        rep.figures["notices"] = "none (silent)"
    return rep


SCENARIOS = {"kill": kill_storm, "pause": pause_storm, "outage": outage_storm}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--storage", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    ap.add_argument("--kills", type=int, default=8, help="drivers killed in the kill storm (default 8)")
    ap.add_argument("--pauses", type=int, default=3, help="pauses past stale_after in the pause storm (default 3)")
    ap.add_argument("--outages", type=int, default=3, help="database outages in the outage scenario (default 3)")
    ap.add_argument("--n-trials", type=int, help="each study's n_trials (default: kill 150, pause and outage 120)")
    ap.add_argument("--seed", type=int, default=0, help="the storms' and the sampler's seed (default 0)")
    ap.add_argument("--keep", action="store_true", help="keep each scenario's folder (study file, logs, SQLite)")
    args = ap.parse_args()
    kinds = ["sqlite", "postgresql"] if args.storage == "both" else [args.storage]
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    print(f"fault injection: storages {', '.join(kinds)}; scenarios {', '.join(names)}; "
          f"kills {args.kills}, pauses {args.pauses}, outages {args.outages}, seed {args.seed}; "
          f"{os.cpu_count()} CPUs", flush=True)
    reports = []
    t_all = time.perf_counter()
    for kind in kinds:
        for name in names:
            rng = random.Random(f"{args.seed}-{kind}-{name}")
            folder = tempfile.mkdtemp(prefix=f"autotune-faults-{kind}-{name}-")
            with storage(kind, folder) as url:
                rep = SCENARIOS[name](kind, folder, url, args, rng)
            reports.append(rep)
            print(f"\n[{kind} / {name}] {rep.harm}; wall {rep.wall:.1f} s", flush=True)
            for ok, text in rep.lines:
                print(f"  {'info' if ok is None else 'ok  ' if ok else 'FAIL'} {text}", flush=True)
            if not rep.ok or args.keep:
                print(f"  (its folder, with every driver's output: {folder})")
            else:
                import shutil

                shutil.rmtree(folder, ignore_errors=True)
    print(f"\nsummary ({time.perf_counter() - t_all:.0f} s in all)")
    head = (f"{'storage':<11}{'scenario':<9}{'harm':<44}{'counted':>9}{'left':>5}{'2x done':>8}{'reran':>6}"
            f"{'stale':>6}{'exit codes':>14}{'tb':>3}{'artifact':>9}{'wall s':>7}  verdict")
    print(head)
    print("-" * len(head))
    for r in reports:
        f = r.figures
        print(f"{r.storage:<11}{r.scenario:<9}{r.harm:<44}{f.get('counted', 0):>5}/{r.n_trials:<3}"
              f"{f.get('left', '-'):>5}{f.get('twice', '-'):>8}{f.get('reran', '-'):>6}{f.get('stale', '-'):>6}"
              f"{f.get('exits', '-'):>14}{f.get('tracebacks', '-'):>3}{f.get('artifact', '-'):>9}{r.wall:>7.1f}  "
              f"{'every invariant holds' if r.ok else 'BROKEN: ' + str(sum(ok is False for ok, _ in r.lines))}")
    broken = [r for r in reports if not r.ok]
    print("\nevery invariant holds under each storm" if not broken else
          f"\n{len(broken)} scenario(s) broke an invariant")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
