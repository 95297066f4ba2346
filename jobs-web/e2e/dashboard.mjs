// The dashboard in a real browser: log into examples/web_app, open /admin/jobs, see the jobs
// the test enqueued, retry a dead job by clicking, see the metrics, backend facts and unique
// locks, and save screenshots of each page.
// Usage: node dashboard.mjs BASE_URL SCREENSHOT_DIR DEAD_JID MARKER_CLASS [LOCK_CLASS]
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, shots, deadJid, marker, lockClass] = process.argv.slice(2);
if (!base || !shots || !deadJid || !marker) {
  console.error("usage: node dashboard.mjs BASE_URL SCREENSHOT_DIR DEAD_JID MARKER_CLASS");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

function check(ok, what) {
  if (!ok) throw new Error("check failed: " + what);
  console.log("ok  " + what);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-dev-shm-usage"],
});
const problems = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(String(e)));
  const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

  // The dashboard is behind the app's login.
  await page.goto(`${base}/admin/jobs`);
  check(page.url().endsWith("/login"), "the dashboard redirects to the app's login");
  await page.fill("input[name=user]", "admin");
  await page.fill("input[name=password]", "jobs-demo");
  await Promise.all([page.waitForURL(/\/admin\/jobs$/), page.click("button[type=submit]")]);
  check(await page.isVisible("text=Processed"), "logged in, the dashboard shows totals");
  await page.click("a:text-is('2 s')"); // refresh the live chart every 2 s
  await page.waitForTimeout(5000); // let it draw a few points
  check(await page.locator("#live-processed").getAttribute("points") !== "", "the live chart draws");
  check(await page.isVisible("dd[data-fact='SQLite version']"), "the dashboard shows backend facts");
  await shot("dashboard");

  // Queues: the test's queue and its jobs.
  await page.click("header nav >> text=Queues");
  check(await page.isVisible("a:text-is('e2e')"), "the queue the test filled is listed");
  await shot("queues");
  await page.click("a:text-is('e2e')");
  check((await page.locator(`text=${marker}`).count()) >= 3, "the enqueued jobs are shown");
  await shot("queue");

  await page.click("header nav >> text=Busy");
  await shot("busy");
  await page.click("header nav >> text=Scheduled");
  await shot("scheduled");
  await page.click("header nav >> text=Retries");
  await shot("retries");

  // Locks: the unique lock the test took (when the backend keeps unique locks).
  await page.click("header nav >> text=Locks");
  check(await page.isVisible("h1:text-is('Locks')"), "the Locks page renders");
  if (await page.isVisible("text=This backend keeps no unique locks.")) {
    console.log("note: this backend keeps no unique locks; the page says so");
  } else if (lockClass) {
    check(await page.isVisible(`#locks >> text=${lockClass}`), "the unique lock the test took is listed");
    check(await page.isVisible("#locks >> text=Release…"), "with a Release action");
  }
  await shot("locks");

  // Recurring: the example's nightly report, its timing in words (declared on the
  // scheduler's first pass, so wait for it).
  await page.click("header nav >> text=Recurring");
  for (let i = 0; i < 20 && !(await page.isVisible("text=nightly-sales-report")); i++) {
    await page.waitForTimeout(500);
    await page.reload();
  }
  check(await page.isVisible("text=nightly-sales-report"), "the nightly report is listed");
  check(await page.isVisible("text=every day at 02:00"), "its timing is shown in words");
  await shot("recurring");

  // Metrics: the example's jobs, counted by its worker and written every few seconds.
  await page.click("header nav >> text=Metrics");
  const rows = () => page.locator("#metrics tbody tr").count();
  for (let i = 0; i < 30 && (await rows()) === 0; i++) {
    await page.waitForTimeout(500);
    await page.reload();
  }
  check((await rows()) > 0, "the metrics table lists the example's jobs");
  check(await page.isVisible("th:text-is('p95 ms')"), "with their p95 duration");
  await shot("metrics");

  // Dead: open the job, retry it by clicking, confirm the count, and see it gone.
  await page.click("header nav >> text=Dead");
  check(await page.isVisible(`text=${deadJid}`), "the dead job is listed");
  await shot("dead");
  await page.click(`a:has-text("${deadJid}")`);
  check(await page.isVisible("text=Backtrace"), "the job page shows the backtrace");
  await shot("dead-job");
  await page.click("button:text-is('Retry now')");
  check(await page.locator("#confirm-count").innerText() === "1", "the confirmation states 1 job");
  await shot("confirm");
  await Promise.all([page.waitForURL(/\/admin\/jobs\/dead$/), page.click("button:has-text('Retry now 1 job')")]);
  check(!(await page.isVisible(`text=${deadJid}`)), "the retried job left the dead set");

  // A phone.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2,
    storageState: await context.storageState() });
  const p2 = await phone.newPage();
  await p2.goto(`${base}/admin/jobs`);
  await p2.screenshot({ path: `${shots}/phone.png`, fullPage: true });
  check(await p2.isVisible("text=Processed"), "the dashboard renders on a phone");

  const csp = problems.filter((p) => /Content Security Policy|Refused/i.test(p));
  check(csp.length === 0, "no Content-Security-Policy violations: " + csp.join(" | "));
} finally {
  await browser.close();
}
console.log("e2e: all checks passed");
