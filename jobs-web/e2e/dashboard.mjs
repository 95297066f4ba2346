// The dashboard in a real browser: log into examples/web_app, open /admin/jobs, see the jobs
// the test enqueued, retry a dead job by clicking, see the metrics, backend facts and unique
// locks, and save screenshots of each page.
// Usage: node dashboard.mjs BASE_URL SCREENSHOT_DIR DEAD_JID MARKER_CLASS [LOCK_CLASS [SECRET]]
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, shots, deadJid, marker, lockClass, secret] = process.argv.slice(2);
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
  // A viewer in Tokyo: times are shown in the browser's zone (a schedule's next runs in the
  // schedule's own), UTC on hover.
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 },
    timezoneId: "Asia/Tokyo" });
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
  check((await page.locator("#live-y span").first().innerText()) !== "", "the live chart has a scale");
  const chart = await page.locator("#live-chart").boundingBox();
  await page.mouse.move(chart.x + chart.width - 3, chart.y + chart.height / 2);
  const hovered = await page.locator("#live-hover").innerText();
  check(/\d+ processed, \d+ failed$/.test(hovered), "hovering the live chart shows its values: " + hovered);
  await shot("dashboard");
  // Polling that fails says so instead of a silently frozen chart, and clears when it answers.
  await page.route("**/api/stats", (r) => r.fulfill({ status: 401, body: "signed out" }));
  await page.waitForSelector("#live-status:not([hidden])", { timeout: 10000 });
  const said = await page.locator("#live-status").innerText();
  check(said.includes("Live updates stopped") && said.includes("401"), "a failed poll shows: " + said);
  await page.unroute("**/api/stats");
  await page.waitForSelector("#live-status[hidden]", { state: "attached", timeout: 10000 });
  check(true, "and the notice goes once the server answers again");

  // Queues: the test's queue and its jobs.
  await page.click("header nav >> text=Queues");
  check(await page.isVisible("a:text-is('e2e')"), "the queue the test filled is listed");
  await shot("queues");
  await page.click("a:text-is('e2e')");
  check((await page.locator(`text=${marker}`).count()) >= 3, "the enqueued jobs are shown");
  if (secret) {
    check(await page.isVisible("text=SendWelcomeEmail"), "the job with a redacted argument is listed");
    check(!(await page.content()).includes(secret), "its redacted argument is not on the page");
    check(await page.isVisible("text=[redacted]"), "[redacted] stands in its place");
    const api = await page.request.get(`${base}/admin/jobs/api/queues/e2e`);
    const body = await api.text();
    check(api.ok() && body.includes("SendWelcomeEmail") && !body.includes(secret),
      "nor in the JSON API's answer for the queue");
  }
  await shot("queue");

  await page.click("header nav >> text=Busy");
  await shot("busy");
  await page.click("header nav >> text=Scheduled");
  await shot("scheduled");
  await page.click("header nav >> text=Retries");
  // A date in a table stays on one line at 1366 px.
  const when = await page.locator("td time").first().boundingBox();
  const line = await page.locator("td time").first().evaluate((e) => parseFloat(getComputedStyle(e).lineHeight) || 20);
  check(when !== null && when.height < line * 1.5, `a date in a table is one line high (${when && when.height} px)`);
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
  const next = await page.locator("time[data-zone='Europe/Berlin']").first().innerText();
  check(/ 02:00:00 CES?T$/.test(next), "its next runs in the schedule's own zone: " + next);
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
  // A job name's own page: its runs and durations hour by hour.
  await page.click("#metrics tbody tr >> nth=0 >> a");
  check(await page.isVisible("#runs-chart"), "a job name's page charts its runs per hour");
  check(await page.isVisible("#duration-chart"), "and its p50/p95 durations");
  check((await page.locator(".y-axis span").first().innerText()) !== "", "with a scale");
  await shot("job-metrics");

  // Dead: open the job, retry it by clicking, confirm the count, and see it gone.
  await page.click("header nav >> text=Dead");
  check(await page.isVisible(`text=${deadJid}`), "the dead job is listed");
  await shot("dead");
  await page.click(`a:has-text("${deadJid}")`);
  check(await page.isVisible("text=Backtrace"), "the job page shows the backtrace");
  const t = page.locator("time.local").first();
  const shown = await t.innerText();
  check(/ GMT\+9$/.test(shown), "times are shown in the viewer's zone: " + shown);
  check((await t.getAttribute("title")).endsWith(" UTC"), "with UTC on hover");
  await shot("dead-job");
  await page.click("button:text-is('Retry now')");
  check(await page.locator("#confirm-count").innerText() === "1", "the confirmation states 1 job");
  await shot("confirm");
  await Promise.all([page.waitForURL(/\/admin\/jobs\/dead$/), page.click("button:has-text('Retry 1 job')")]);
  check(!(await page.isVisible(`text=${deadJid}`)), "the retried job left the dead set");

  // Its page now: an error page in the layout with a way back, not a bare text.
  const gone = await page.goto(`${base}/admin/jobs/dead/${deadJid}`);
  check(gone.status() === 404, "the retried job's dead page answers 404");
  check(await page.isVisible("header nav"), "inside the dashboard's layout");
  await shot("error");
  await Promise.all([page.waitForURL(/\/admin\/jobs\/dead$/), page.click("a:text-is('← Back to Dead')")]);
  check(page.url().endsWith("/admin/jobs/dead"), "its link goes back to the Dead listing");

  // The audit: the retry, who did it and to how many.
  await page.click("header nav >> text=Actions");
  check(await page.isVisible("td:text-is('admin')"), "the Actions page names the user who acted");
  check(await page.isVisible("text=retry"), "and what was done");
  await shot("actions");

  // A read-only role: every page, no form that changes anything.
  const viewerCtx = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  const viewer = await viewerCtx.newPage();
  await viewer.goto(`${base}/login`);
  await viewer.fill("input[name=user]", "viewer");
  await viewer.fill("input[name=password]", "jobs-demo");
  await Promise.all([viewer.waitForURL(/\/admin\/jobs$/), viewer.click("button[type=submit]")]);
  for (const path of ["", "/busy", "/queues", "/retries", "/dead", "/recurring", "/locks"]) {
    await viewer.goto(`${base}/admin/jobs${path}`);
    check((await viewer.locator("form[method=post]").count()) === 0, `the viewer sees no form on ${path || "/"}`);
  }
  await viewer.goto(`${base}/admin/jobs/retries`);
  await viewer.screenshot({ path: `${shots}/viewer.png`, fullPage: true });
  await viewerCtx.close();

  // A phone.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2,
    storageState: await context.storageState() });
  const p2 = await phone.newPage();
  await p2.goto(`${base}/admin/jobs`);
  await p2.screenshot({ path: `${shots}/phone.png`, fullPage: true });
  check(await p2.isVisible("text=Processed"), "the dashboard renders on a phone");
  // Redaction on a phone too.
  if (secret) {
    await p2.goto(`${base}/admin/jobs/queues/e2e`);
    check(!(await p2.content()).includes(secret), "a redacted argument stays hidden on a phone");
    await p2.screenshot({ path: `${shots}/phone-queue.png`, fullPage: true });
  }
  // Busy on a phone: the process's actions are on screen, not beyond a wide table.
  await p2.goto(`${base}/admin/jobs/busy`);
  const stop = p2.locator("button:text-is('Stop')").first();
  const box = await stop.boundingBox();
  check(box !== null && box.x >= 0 && box.x + box.width <= 390, "Busy's Stop button is on a 390 px screen");
  await p2.screenshot({ path: `${shots}/phone-busy.png`, fullPage: true });

  const csp = problems.filter((p) => /Content Security Policy|Refused/i.test(p));
  check(csp.length === 0, "no Content-Security-Policy violations: " + csp.join(" | "));
} finally {
  await browser.close();
}
console.log("e2e: all checks passed");
