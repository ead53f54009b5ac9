// One fixed-rate load run against `GET /recommend?user=ID&k=K` with a random user per request.
// usage: node load.js URL RATE SECONDS CONNECTIONS USERS_JSON K [API_KEY]
// Prints one JSON object: latency percentiles (ms), achieved rate, errors and non-2xx answers.
//
// Arrivals are spread evenly: one autocannon instance per connection, each at RATE / CONNECTIONS
// requests per second, the instances started 1 / RATE seconds apart. (A single autocannon
// instance with `overallRate` fires every connection's timer at the same moment, so requests
// arrive in bursts of CONNECTIONS: what is then measured is the queue of a burst.)
"use strict";
const autocannon = require("autocannon");
const fs = require("fs");

const [url, rateArg, secondsArg, connectionsArg, usersFile, k, apiKey] = process.argv.slice(2);
const rate = Number(rateArg), seconds = Number(secondsArg);
const connections = Math.max(1, Math.min(Number(connectionsArg), rate));
const users = JSON.parse(fs.readFileSync(usersFile, "utf8"));
let state = 12345;
function nextUser() {  // a small LCG: the same sequence every run
  state = (state * 1103515245 + 12345) % 2147483648;
  return encodeURIComponent(users[state % users.length]);
}

const headers = apiKey ? { "x-api-key": apiKey } : {};
const latencies = [];
let non2xx = 0, errors = 0, timeouts = 0, done = 0;

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function finish() {
  latencies.sort((a, b) => a - b);
  const mean = latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length);
  const r2 = (x) => (x === null ? null : Math.round(x * 100) / 100);
  console.log(JSON.stringify({
    target_rps: rate,
    achieved_rps: latencies.length / seconds,
    requests: latencies.length,
    errors, timeouts, non2xx, connections,
    latency_ms: {
      p50: r2(percentile(latencies, 50)), p90: r2(percentile(latencies, 90)),
      p97_5: r2(percentile(latencies, 97.5)), p99: r2(percentile(latencies, 99)),
      p99_9: r2(percentile(latencies, 99.9)), max: r2(latencies[latencies.length - 1] ?? null), mean: r2(mean),
    },
  }));
}

for (let i = 0; i < connections; i++) {
  setTimeout(() => {
    const instance = autocannon({
      url,
      connections: 1,
      overallRate: rate / connections,
      duration: seconds,
      headers,
      requests: [{
        method: "GET",
        setupRequest: (req) => { req.path = `/recommend?user=${nextUser()}&k=${k}`; return req; },
      }],
    }, (err, result) => {
      if (err) { console.error(err); process.exit(1); }
      errors += result.errors;
      timeouts += result.timeouts;
      done += 1;
      if (done === connections) finish();
    });
    instance.on("response", (client, statusCode, resBytes, responseTime) => {
      latencies.push(responseTime);
      if (statusCode < 200 || statusCode > 299) non2xx += 1;
    });
  }, (i * 1000) / rate);
}
