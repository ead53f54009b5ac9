// One open-loop, fixed-rate load run against `GET /recommend?user=ID&k=K`, a random user per request.
// usage: node load.js URL RATE SECONDS CONNECTIONS USERS_JSON K [API_KEY]
// Prints one JSON object: latency percentiles (ms), achieved rate, errors and non-2xx answers.
//
// Request i is due at start + i / RATE whatever happened before it (open loop, as wrk2 does), and
// its latency is counted from that due time, so a request that waits for a free connection or
// for the generator itself is charged the wait (no coordinated omission). Requests go out over a
// pool of CONNECTIONS keep-alive connections (undici). autocannon, used before, spends each
// connection's per-second quota back to back at the start of every second: a closed-loop burst,
// not a rate.
"use strict";
const { Pool } = require("undici");
const fs = require("fs");
const { performance } = require("perf_hooks");

const [url, rateArg, secondsArg, connectionsArg, usersFile, k, apiKey] = process.argv.slice(2);
const rate = Number(rateArg), seconds = Number(secondsArg), connections = Number(connectionsArg);
const users = JSON.parse(fs.readFileSync(usersFile, "utf8"));
let state = 12345;
function nextUser() {  // a small LCG: the same sequence every run
  state = (state * 1103515245 + 12345) % 2147483648;
  return encodeURIComponent(users[state % users.length]);
}

const pool = new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
const headers = apiKey ? { "x-api-key": apiKey } : {};
const total = Math.round(rate * seconds);
const interval = 1000 / rate;
const latencies = [];
let sent = 0, completed = 0, non2xx = 0, errors = 0, timeouts = 0, maxLag = 0;

function fire(due) {
  sent += 1;
  const path = process.env.LOAD_PATH || `/recommend?user=${nextUser()}&k=${k}`;  // LOAD_PATH: calibrate on e.g. /health
  pool.request({ path, method: "GET", headers, headersTimeout: 10_000,
                 bodyTimeout: 10_000 })
    .then(async (res) => {
      await res.body.dump();
      latencies.push(performance.now() - due);
      if (res.statusCode < 200 || res.statusCode > 299) non2xx += 1;
    })
    .catch((err) => {
      if (err && /Timeout/i.test(err.code || err.name || "")) timeouts += 1; else errors += 1;
    })
    .finally(() => { completed += 1; if (completed === total) finish(); });
}

const start = performance.now() + 50;
let next = 0;
function tick() {
  const now = performance.now();
  while (next < total && start + next * interval <= now) {
    const due = start + next * interval;
    maxLag = Math.max(maxLag, now - due);
    fire(due);
    next += 1;
  }
  if (next < total) setTimeout(tick, 1);  // ~1 ms timer: the loop above catches up on what fell due
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const mean = latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length);
  const r2 = (x) => (x === null ? null : Math.round(x * 100) / 100);
  console.log(JSON.stringify({
    target_rps: rate,
    achieved_rps: latencies.length / Math.max(seconds, elapsed),
    requests: latencies.length, sent, errors, timeouts, non2xx, connections,
    generator_max_lag_ms: r2(maxLag),
    latency_ms: {
      p50: r2(percentile(latencies, 50)), p90: r2(percentile(latencies, 90)),
      p97_5: r2(percentile(latencies, 97.5)), p99: r2(percentile(latencies, 99)),
      p99_9: r2(percentile(latencies, 99.9)), max: r2(latencies[latencies.length - 1] ?? null), mean: r2(mean),
    },
  }));
  pool.destroy().then(() => process.exit(0));
}

setTimeout(() => { timeouts += total - completed; finish(); }, (seconds + 15) * 1000);  // a stuck server
setTimeout(tick, 50);
