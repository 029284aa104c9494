"""Dashboard render times on a 1,000-patient study: AppTest run time per page, first (cold
caches) and second (cached) render, and their ratio; or, with ``--load``, page times in
headless Chromium for concurrent sessions while an extraction job runs.

    .venv/bin/python bench/dashboard.py [--study PATH] [--scale 4.8] [--features-per-region 1874]
    .venv/bin/python bench/dashboard.py --load --demo data/demo.duckdb [--sessions 10]

The study is built once (and kept at ``--study``, default ``artifacts/bench/dashboard.duckdb``):
the demo generator's clinical tables at ``--scale`` (4.8 gives 706 + 302 patients) without
CT volumes, synthetic radiomics rows written per case through ``Study.write_case_features``
(as an extraction would), and an analysis through core's API where it is installed.

The load run works on a copy of a demo study built by ``scripts/build-demo.sh``: it adds a
centre (the demo's training cohort again), serves the copy with Streamlit, measures one
session going through every page (the baseline), then ``--sessions`` Chromium contexts going
through every page while one more context starts the new centre's extraction on the
Extraction page and waits for it. Each page time runs from the click on its navigation link
until its script has finished; an error element on any page is a failure, and so is any
feature row lost or duplicated (the new centre's rows are checked, the other centres' rows
compared with the copy's before the run). Chromium is Debian's (``scripts/install-browser.sh``).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # not bench/: this file is itself named dashboard.py

PAGES = ["views/study.py", "views/cohorts.py", "views/jobs.py", "views/segmentation.py", "views/extraction.py",
         "views/clinical.py", "views/selection.py", "views/models.py", "views/nomogram.py"]
SETTINGS = "synthetic-paper"


def _clinical_only_demo(out: Path, scale: float) -> list[tuple[Path, str]]:
    """The demo cohorts' clinical tables (no volumes: those would take minutes and are not benchmarked)."""
    from core.cohort import demo

    real_volume, real_write = demo._volume, demo._write
    demo._volume = lambda rng, z, offset, noise: (None, None, float(np.clip(rng.lognormal(np.log(2.2), 0.3), 1, 5)))
    demo._write = lambda array, path: None
    try:
        written = demo.write_demo(out, scale=scale)
    finally:
        demo._volume, demo._write = real_volume, real_write
    for folder, _ in written:
        for sub in ("images", "masks"):
            (folder / sub).rmdir()
    return written


def _feature_structure(per_region: int, seed: int = 0) -> dict:
    """What every centre's synthetic features share: names, block membership, loadings, units."""
    from core.stats.simulate import feature_names

    names = feature_names(per_region)
    p = len(names)
    rng = np.random.default_rng(seed)
    return {"names": names, "block_of": rng.permutation(np.arange(p) // 12), "loading": rng.uniform(0.85, 0.99, p),
            "scale": np.exp(rng.normal(0, 1.5, p)), "offset": rng.normal(0, 3, p)}


def _synthetic_features(study, center: str, structure: dict, seed: int) -> None:
    """Block-correlated features, a few blocks shifted with the outcome, one case per transaction."""
    names, block_of, loading = structure["names"], structure["block_of"], structure["loading"]
    patients = study.patients(center)
    y = patients["ptlf"].to_numpy()
    rng = np.random.default_rng(seed)
    n, p = len(patients), len(names)
    blocks = rng.normal(size=(n, block_of.max() + 1))
    blocks[:, :4] += 0.9 * (y[:, None] - y.mean())
    values = blocks[:, block_of] * loading + rng.normal(size=(n, p)) * np.sqrt(1 - loading**2)
    values = values * structure["scale"] + structure["offset"] * structure["scale"]
    regions = [c.split(":", 1)[0] for c in names]
    features = [c.split(":", 1)[1] for c in names]
    for i, pid in enumerate(patients["patient_id"]):
        frame = pd.DataFrame({"region": regions, "feature": features, "value": values[i]})
        study.write_case_features(center, pid, "manual", SETTINGS, None, None, frame)


def build_study(path: Path, scale: float, per_region: int) -> None:
    from core.cohort.ingest import ingest
    from core.store import Study

    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (path, path.with_suffix(".duckdb.wal")):
        leftover.unlink(missing_ok=True)
    t0 = time.perf_counter()
    written = _clinical_only_demo(path.parent / "bench_cohort", scale)
    with Study.open(path) as study:
        for folder, role in written:
            ingest(study, folder, folder.name, role)
        study.register_settings(SETTINGS, "synthetic", {"note": "synthetic rows for bench/dashboard.py",
                                                        "per_region": per_region})
        t1 = time.perf_counter()
        structure = _feature_structure(per_region)
        for i, center in enumerate(study.centers()["center"]):
            _synthetic_features(study, center, structure, seed=i + 1)
        t2 = time.perf_counter()
        n = int(study.centers()["patients"].sum())
        print(f"built {path}: {n} patients in {t1 - t0:.1f} s, features ({2 * per_region} per patient) "
              f"in {t2 - t1:.1f} s")
        _analysis(study)


def _analysis(study) -> None:
    """Run and store an analysis with core's API, when that stage is installed."""
    if importlib.util.find_spec("core.analysis_cli") is None:
        print("core.analysis_cli not installed: analysis pages are measured without a stored analysis")
        return
    from core.analysis_cli import run_study_analysis

    t = time.perf_counter()
    run_study_analysis(study, "hospital_a", ["hospital_b"], mask_source="manual", settings_hash=SETTINGS,
                       bootstrap=50)
    print(f"analysis stored in {time.perf_counter() - t:.1f} s")


def measure(path: Path, repeats: int) -> pd.DataFrame:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard import figures, session

    os.environ["PTLF_STUDY"] = str(path)
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=600)
    at.run()
    rows = []
    for page in PAGES:
        # Cold: every cached read, figure and stored analysis dropped (the open Study is kept).
        st.cache_data.clear()
        for cache in (figures._figure, figures._figure_for, session._read_shared):
            cache.clear()
        t = time.perf_counter()
        at.switch_page(page).run()
        first = time.perf_counter() - t
        problems = [e.value for e in at.exception] + [e.value for e in at.error]
        seconds = []
        for _ in range(repeats):
            t = time.perf_counter()
            at.run()
            seconds.append(time.perf_counter() - t)
        second = min(seconds)
        rows.append({"page": page.split("/")[-1][:-3], "first_s": first, "cached_s": second,
                     "cached/first": second / first if first else float("nan"),
                     "problems": "; ".join(problems)[:80]})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ load run
LOAD_PAGES = {"": "Study", "cohorts": "Cohorts", "jobs": "Jobs", "segmentation": "Segmentation",
              "extraction": "Extraction", "clinical": "Clinical", "selection": "Feature selection",
              "models": "Models", "nomogram": "Nomogram", "external": "External validation",
              "patient": "Patient risk"}   # URL path -> the page's title (its h1)
LOAD_CENTER = "load_a"
LOAD_COHORT = "hospital_a"  # the demo cohort added again as LOAD_CENTER; its rows must equal that centre's
CHROMIUM = os.environ.get("PTLF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
FEATURE_KEY = ["patient_id", "region", "mask_source", "settings_hash", "feature"]
PAGE_TIMEOUT_MS = 600_000
LOAD_LIMIT_S = 3600          # the load phase gives up after this long
# True once the page titled `title` is shown and its script run has finished.
_PAGE_DONE = """(title) => {
  const h1 = document.querySelector('[data-testid="stMain"] h1');
  const app = document.querySelector('[data-testid="stApp"]');
  return !!h1 && h1.innerText.trim() === title && !!app && app.dataset.testScriptState === 'notRunning';
}"""


def _load_study(demo: Path, folder: Path) -> Path:
    """A copy of ``demo`` (file and folder) with LOAD_CENTER added: the demo's LOAD_COHORT again."""
    import shutil

    from core.cohort.ingest import ingest
    from core.store import Study

    cohort = demo.parent / "demo_cohort" / LOAD_COHORT
    if not cohort.is_dir():
        raise SystemExit(f"no demo cohort at {cohort}: build the demo study with scripts/build-demo.sh")
    path = folder / "load.duckdb"
    shutil.copy2(demo, path)
    shutil.copytree(demo.with_suffix(".study"), path.with_suffix(".study"))
    with Study.open(path, create=False) as study:
        ingest(study, cohort, LOAD_CENTER, "validation")
    return path


def _features_by_center(path: Path) -> dict[str, pd.DataFrame]:
    from core.store import Study

    with Study.open(path, read_only=True) as study:
        return {c: study.features(c).sort_values(FEATURE_KEY, ignore_index=True) for c in study.centers()["center"]}


@contextmanager
def _serve(study: Path, log: Path) -> Iterator[str]:
    """The dashboard on ``study`` at a free local port; yields its base URL."""
    import socket
    import subprocess
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"), "--server.address",
           "127.0.0.1", "--server.port", str(port), "--server.headless", "true", "--server.fileWatcherType", "none",
           "--browser.gatherUsageStats", "false", "--", "--study", str(study)]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the dashboard did not start:\n" + log.read_text()[-3000:])
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _open(browser, base: str, path: str):
    """A new context (its own cookies and Streamlit session) showing page ``path``, its script finished."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = await context.new_page()
    await page.goto(f"{base}/{path}")
    await page.wait_for_function(_PAGE_DONE, arg=LOAD_PAGES[path], timeout=PAGE_TIMEOUT_MS)
    return context, page


async def _visit(page, base: str, path: str) -> tuple[float, list[str]]:
    """Click the navigation link of ``path``: seconds until its script has finished, and the errors it shows."""
    start = time.perf_counter()
    await page.locator(f'[data-testid="stSidebarNavLink"][href="{base}/{path}"]').click()
    await page.wait_for_function(_PAGE_DONE, arg=LOAD_PAGES[path], timeout=PAGE_TIMEOUT_MS)
    seconds = time.perf_counter() - start
    await page.wait_for_timeout(300)  # elements drawn after the run (charts, late alerts)
    errors = page.locator(ERRORS)
    return seconds, [(await errors.nth(i).inner_text())[:300] for i in range(await errors.count())]


async def _session(browser, base: str, index: int, more: Callable[[int], bool]) -> list[dict]:
    """One user going through every page (in an order shifted by ``index``) while ``more(rounds done)``."""
    paths = list(LOAD_PAGES)
    shift = (index + 1) % len(paths)          # never the page it shows already (the Study page)
    order = paths[shift:] + paths[:shift]
    context, page = await _open(browser, base, "")
    rows, rounds = [], 0
    try:
        while more(rounds):
            for path in order:
                seconds, errors = await _visit(page, base, path)
                rows.append({"session": index, "page": LOAD_PAGES[path], "seconds": seconds,
                             "ended": time.monotonic(), "errors": errors})
            rounds += 1
    finally:
        await context.close()
    return rows


async def _extract_from_the_page(browser, base: str, patients: int, started, done) -> dict:
    """Start LOAD_CENTER's extraction on the Extraction page (then set ``started``), wait until its
    monitor shows it done (then set ``done``)."""
    context, page = await _open(browser, base, "extraction")
    try:
        await page.get_by_label("Centre", exact=True).click()
        await page.get_by_role("option", name=f"{LOAD_CENTER} (validation)", exact=True).click()
        await page.wait_for_function(_PAGE_DONE, arg="Extraction")
        await page.get_by_role("button", name="Start").click()
        await page.get_by_text(re.compile(rf"Job \d+ · extract · {LOAD_CENTER}")).wait_for()
        started.set()
        start = time.monotonic()
        finished = re.compile(rf"Job (\d+) · extract · {LOAD_CENTER}\s+done\b.*?\b{patients} of {patients} cases",
                              re.S)
        while time.monotonic() - start < LOAD_LIMIT_S:
            text = await page.locator('[data-testid="stMain"]').inner_text()
            match = finished.search(text)
            if match:
                return {"job_id": int(match.group(1)), "seconds": time.monotonic() - start, "ended": time.monotonic()}
            if "The last extraction of" in text:
                raise SystemExit(f"the extraction stopped: {text[text.index('The last extraction of'):][:500]}")
            await page.wait_for_timeout(1000)
        raise SystemExit(f"the extraction of {LOAD_CENTER} did not finish in {LOAD_LIMIT_S} s")
    finally:
        started.set()
        done.set()
        await context.close()


async def _measure_load(base: str, sessions: int, baseline_rounds: int, patients: int) -> tuple[list, list, dict]:
    import asyncio

    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        baseline = await _session(browser, base, 0, lambda rounds: rounds < baseline_rounds)
        started, done = asyncio.Event(), asyncio.Event()
        operator = asyncio.create_task(_extract_from_the_page(browser, base, patients, started, done))
        await started.wait()
        if operator.done():  # it could not start the job
            await operator
        users = [_session(browser, base, i, lambda rounds: rounds == 0 or not done.is_set()) for i in range(sessions)]
        loads = await asyncio.gather(*users)
        job = await operator
        await browser.close()
    return baseline, [row for rows in loads for row in rows], job


def _check_rows(path: Path, before: dict[str, pd.DataFrame], job_id: int) -> tuple[list[str], str]:
    """Problems with the features table after the load (lost, duplicated or changed rows), and what was checked."""
    from core.store import Study

    after = _features_by_center(path)
    problems = [f"centre {c}: its {len(rows)} feature rows changed during the load"
                for c, rows in before.items() if not rows.equals(after.get(c, rows.iloc[:0]))]
    new, same_cohort = after.get(LOAD_CENTER, pd.DataFrame(columns=FEATURE_KEY + ["value"])), before[LOAD_COHORT]
    duplicated = int(new.duplicated(FEATURE_KEY).sum())
    if duplicated:
        problems.append(f"centre {LOAD_CENTER}: {duplicated} duplicated feature rows")
    keys = ["patient_id", "region", "feature"]
    merged = same_cohort.merge(new, on=keys, how="outer", suffixes=("_a", "_new"), indicator=True)
    lost, extra = int((merged["_merge"] == "left_only").sum()), int((merged["_merge"] == "right_only").sum())
    if lost or extra:
        problems.append(f"centre {LOAD_CENTER}: {lost} rows missing and {extra} unexpected, against "
                        f"{LOAD_COHORT} (the same cohort)")
    both = merged[merged["_merge"] == "both"]
    diff = float((both["value_a"] - both["value_new"]).abs().max()) if len(both) else float("nan")
    with Study.open(path, read_only=True) as study:
        job, cases = study.jobs.get(job_id), study.jobs.cases(job_id)
    patients = new["patient_id"].nunique()
    if job["state"] != "done" or len(cases) != patients or set(cases["state"]) != {"done"}:
        problems.append(f"job {job_id}: state {job['state']}, {len(cases)} case rows "
                        f"({cases['state'].value_counts().to_dict()}) for {patients} patients")
    checked = (f"{len(new):,} feature rows of {LOAD_CENTER} ({patients} patients x "
               f"{len(new) // max(patients, 1)}), every one once, equal to {LOAD_COHORT}'s rows of the same cohort "
               f"(max |difference| {diff:.3g}); {sum(len(r) for r in before.values()):,} rows of "
               f"{', '.join(before)} unchanged; job {job_id} {job['state']} with {len(cases)} case rows")
    return problems, checked


def _percentiles(rows: list[dict], job_ended: float | None = None) -> pd.DataFrame:
    """Visits, p50, p95 and max page seconds per page and over all pages (and, given the job's
    end, over the visits that ended while it ran)."""
    df = pd.DataFrame(rows)
    summary = {"visits": "size", "p50": lambda s: np.percentile(s, 50), "p95": lambda s: np.percentile(s, 95),
               "max": "max"}
    groups = {"all": df} if job_ended is None else {"all": df, "during the job": df[df["ended"] <= job_ended]}
    overall = pd.DataFrame({name: part["seconds"].agg(list(summary.values())).set_axis(list(summary))
                            for name, part in groups.items() if len(part)}).T
    table = pd.concat([df.groupby("page", sort=False)["seconds"].agg(**summary), overall])
    return table.astype({"visits": int})


def run_load(demo: Path, sessions: int, baseline_rounds: int) -> int:
    """The load run; prints page times and row checks, returns 1 when an error was shown or a row lost."""
    import asyncio
    import tempfile

    if not demo.exists():
        raise SystemExit(f"no demo study at {demo}: build one with scripts/build-demo.sh")
    with tempfile.TemporaryDirectory(prefix="dashboard-load-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        path = _load_study(demo, folder)
        before = _features_by_center(path)
        before.pop(LOAD_CENTER, None)
        from core.store import Study

        with Study.open(path, read_only=True) as study:
            patients = len(study.patients(LOAD_CENTER))
        print(f"copied {demo.name} and added centre {LOAD_CENTER} ({patients} patients) in "
              f"{time.perf_counter() - t:.1f} s")
        with _serve(path, folder / "streamlit.log") as base:
            baseline, load, job = asyncio.run(_measure_load(base, sessions, baseline_rounds, patients))
        problems, checked = _check_rows(path, before, job["job_id"])
    shown = [f"{r['page']} (session {r['session']}): {e}" for r in baseline + load for e in r["errors"]]
    base_table, load_table = _percentiles(baseline), _percentiles(load, job["ended"])
    load_table["p50/baseline"] = load_table["p50"] / base_table["p50"].reindex(load_table.index).fillna(
        base_table.at["all", "p50"])
    print(f"\nbaseline: 1 session, {baseline_rounds} rounds over {len(LOAD_PAGES)} pages, no job running")
    print(base_table.to_string(float_format=lambda x: f"{x:.2f}"))
    print(f"\nload: {sessions} sessions; the extraction of {LOAD_CENTER} ({patients} cases) ran "
          f"{job['seconds']:.0f} s, during which {sum(r['ended'] <= job['ended'] for r in load)} of "
          f"{len(load)} page visits ended")
    print(load_table.to_string(float_format=lambda x: f"{x:.2f}"))
    print(f"\nrows checked: {checked}")
    for line in shown + problems:
        print(f"PROBLEM: {line}")
    print("no error shown, no row lost or duplicated" if not (shown or problems) else
          f"{len(shown)} error(s) shown, {len(problems)} row problem(s)")
    return 1 if shown or problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", action="store_true",
                        help="the load run: concurrent browser sessions over every page while a centre is extracted")
    parser.add_argument("--demo", help="--load: the demo study to copy (scripts/build-demo.sh builds one)")
    parser.add_argument("--sessions", type=int, default=10, help="--load: concurrent browser sessions")
    parser.add_argument("--baseline-rounds", type=int, default=3,
                        help="--load: rounds over every page by one session, no job running, before the load")
    parser.add_argument("--study", default=str(ROOT / "artifacts" / "bench" / "dashboard.duckdb"))
    parser.add_argument("--scale", type=float, default=4.8, help="demo scale (4.8: about 1,000 patients)")
    parser.add_argument("--features-per-region", type=int, default=1874)
    parser.add_argument("--rebuild", action="store_true", help="build the study even if it exists")
    parser.add_argument("--repeats", type=int, default=3, help="cached renders per page (the fastest counts)")
    args = parser.parse_args()
    if args.load:
        if not args.demo:
            parser.error("--load needs --demo PATH (a study built by scripts/build-demo.sh)")
        sys.exit(run_load(Path(args.demo).resolve(), args.sessions, args.baseline_rounds))
    path = Path(args.study).resolve()
    if args.rebuild or not path.exists():
        build_study(path, args.scale, args.features_per_region)
    table = measure(path, args.repeats)
    with pd.option_context("display.width", 140, "display.max_columns", 10):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"total first {table['first_s'].sum():.2f} s, cached {table['cached_s'].sum():.2f} s, "
          f"ratio {table['cached_s'].sum() / table['first_s'].sum():.3f}")


if __name__ == "__main__":
    main()
