"""How fast the dashboard's pages are on a big project, next to optuna-dashboard on the
same study.

Builds a home with the quickstart, a 10^5-row table (`gen credit`), a study of 1,000
trials (written by optuna itself into the project's journal) and a few hundred runs, then
starts `risklake serve` (token auth) and optuna-dashboard on the same study journal, and
times in headless Chromium (Playwright, Debian's own browser) from navigation to the
page's content:

- the table page with its first 50 rows of 10^5, the next page, a column profile;
- a SQL query over the 10^5 rows (its first page) and the next page;
- the runs list (first page of 100, and the last page);
- the study page: history chart, then the fANOVA importance chart (computed on the
  server over the 1,000 trials), next to optuna-dashboard's study page (history plot);
- a model report page.

Each measurement is repeated (--repeat) alternating risklake / optuna-dashboard, and the
median is printed with the median CPU time its server spent meanwhile.

    /var/tmp/risklake-venv/bin/python bench/dashboard_bench.py --bin $CARGO_TARGET_DIR/debug/risklake
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import optuna
from playwright.sync_api import sync_playwright


def risklake(bin, home, *args):
    out = subprocess.run([bin, "--home", str(home), "--json", "-q", *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"risklake {' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout) if out.stdout.strip() else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_of(pid):
    """User + system seconds of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build(bin, home, rows, trials, runs):
    t0 = time.time()
    subprocess.run([bin, "--home", str(home), "-q", "quickstart"], check=True, capture_output=True)
    risklake(bin, home, "gen", "credit", "--rows", str(rows), "--features", "24", "--seed", "5", "--table", "big_apps")
    for i in range(runs):
        risklake(bin, home, "sql", f"SELECT {i} AS n")
    path = home / "studies" / "big.journal"
    path.parent.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    study = optuna.create_study(study_name="big", storage=storage, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=1))

    def objective(t):
        lr = t.suggest_float("learning_rate", 0.01, 0.3, log=True)
        leaves = t.suggest_int("num_leaves", 8, 256, log=True)
        frac = t.suggest_float("feature_fraction", 0.5, 1.0)
        policy = t.suggest_categorical("grow_policy", ["leafwise", "depthwise"])
        l2 = t.suggest_float("lambda_l2", 1e-3, 10.0, log=True)
        return 0.8 - (lr - 0.08) ** 2 - 0.00001 * (leaves - 40) ** 2 + 0.02 * frac + (0.01 if policy == "leafwise" else 0) + 0.001 * l2

    study.optimize(objective, n_trials=trials)
    print(f"home built in {time.time() - t0:.0f} s: quickstart, big_apps ({rows} rows), {runs} sql runs, "
          f"study big ({trials} trials)", flush=True)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="risklake")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=250)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chromium", default=os.environ.get("RISKLAKE_CHROMIUM", "/usr/bin/chromium"))
    args = ap.parse_args()
    from pathlib import Path

    home = Path(tempfile.mkdtemp(prefix="dash-bench-")) / "home"
    journal = build(args.bin, home, args.rows, args.trials, args.runs)
    token = risklake(args.bin, home, "token", "create", "--user", "bench", "--role", "admin")["secret"]
    ours = subprocess.Popen([args.bin, "--home", str(home), "serve", "--bind", "127.0.0.1:0", "--auth", "token", "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = ours.stdout.readline().split("listening on ")[1].split()[0]
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "optuna-dashboard")
    theirs = subprocess.Popen([exe, str(journal), "--host", "127.0.0.1", "--port", str(port), "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            studies = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2))
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit("optuna-dashboard did not start")
    study_id = studies["study_summaries"][0]["study_id"]
    def get(path):
        return json.load(urllib.request.urlopen(urllib.request.Request(
            f"{url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"})))

    # A registered model with a report (the quickstart reports on its scorecard).
    model = next(m["name"] for m in get("/models")["models"] if get(f"/models/{m['name']}/reports")["reports"])

    times, cpu = {}, {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=["--no-sandbox"])
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        page = ctx.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{url}/ui/")
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_selector("h1:has-text('Project')")

        def timed(name, who, action):
            pid = ours.pid if who == "risklake" else theirs.pid
            c0, t0 = cpu_of(pid), time.perf_counter()
            action()
            times.setdefault(name, []).append(time.perf_counter() - t0)
            cpu.setdefault(name, []).append(cpu_of(pid) - c0)

        def go(fragment, selector):
            page.goto(f"{url}/ui/#{fragment}")
            page.wait_for_selector(selector, timeout=120_000)

        def sql_first_page():
            go("/sql", "#sql")
            page.fill("#sql", "SELECT * FROM big_apps")
            page.click("#run-sql")
            page.wait_for_selector("#results tbody tr", timeout=120_000)

        last_runs_page = None
        for r in range(args.repeat):
            timed("table page, first 50 of 10^5 rows", "risklake",
                  lambda: go("/tables/default.big_apps", "table[aria-label=rows] tbody tr"))
            timed("table, next page of rows", "risklake", lambda: (page.click("text=Next ›"), page.wait_for_selector("text=page 2 of")))
            timed("column profile (10^5 rows)", "risklake",
                  lambda: (page.click("button.link:has-text('x00_amount')"), page.wait_for_selector("#profile dl", timeout=120_000)))
            timed("SQL over 10^5 rows, first page", "risklake", sql_first_page)
            timed("SQL, next page", "risklake", lambda: (page.click("#results >> text=Next ›"), page.wait_for_selector("#results >> text=page 2 of")))
            timed("runs, first page of 100", "risklake", lambda: go("/runs", "table[aria-label=runs] tbody tr"))
            if last_runs_page is None:
                last_runs_page = int(page.inner_text(".pager-where").split(" of ")[1].split()[0])
            timed("runs, last page", "risklake", lambda: go(f"/runs?page={last_runs_page}", "table[aria-label=runs] tbody tr"))
            timed("study of 10^3 trials: history chart", "risklake",
                  lambda: go("/studies/big", "svg[aria-label='optimization history'] circle"))
            timed("study of 10^3 trials: + fANOVA importance", "risklake",
                  lambda: page.wait_for_selector("svg[aria-label='parameter importance'] rect", timeout=120_000))
            timed("optuna-dashboard study page: history plot", "optuna-dashboard",
                  lambda: (page.goto(f"http://127.0.0.1:{port}/dashboard/studies/{study_id}"),
                           page.wait_for_selector(".js-plotly-plot .scatterlayer .point", timeout=120_000)))
            timed("model page with its report", "risklake",
                  lambda: (go(f"/models/{model}", "iframe.report"),
                           page.frame_locator("iframe.report").locator("svg").first.wait_for(timeout=120_000)))
        browser.close()
    ours.send_signal(signal.SIGTERM)
    ours.wait(timeout=60)
    theirs.terminate()
    theirs.wait(timeout=10)
    print(f"\n{'page':48} {'median s':>9} {'server CPU s':>13}   runs")
    for name, ts in times.items():
        print(f"{name:48} {statistics.median(ts):9.3f} {statistics.median(cpu[name]):13.3f}   {', '.join(f'{t:.3f}' for t in ts)}")
    if errors:
        print(f"console errors: {errors}")


if __name__ == "__main__":
    main()
