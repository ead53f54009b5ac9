// One fixed-rate load run against `GET /recommend?user=ID&k=K` with a random user per request.
// usage: node load.js URL RATE SECONDS CONNECTIONS USERS_JSON K [API_KEY]
// Prints one JSON object: latency percentiles (ms), achieved rate, errors and non-2xx answers.
"use strict";
const autocannon = require("autocannon");
const fs = require("fs");

const [url, rate, seconds, connections, usersFile, k, apiKey] = process.argv.slice(2);
const users = JSON.parse(fs.readFileSync(usersFile, "utf8"));
let state = 12345;
function nextUser() {  // a small LCG: the same sequence every run
  state = (state * 1103515245 + 12345) % 2147483648;
  return encodeURIComponent(users[state % users.length]);
}

const headers = apiKey ? { "x-api-key": apiKey } : {};
const instance = autocannon({
  url,
  connections: Number(connections),
  overallRate: Number(rate),
  duration: Number(seconds),
  headers,
  requests: [{
    method: "GET",
    setupRequest: (req) => { req.path = `/recommend?user=${nextUser()}&k=${k}`; return req; },
  }],
}, (err, result) => {
  if (err) { console.error(err); process.exit(1); }
  const l = result.latency;
  console.log(JSON.stringify({
    target_rps: Number(rate),
    achieved_rps: result.requests.total / Number(seconds),
    requests: result.requests.total,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    latency_ms: { p50: l.p50, p90: l.p90, p97_5: l.p97_5, p99: l.p99, p99_9: l.p99_9, max: l.max, mean: l.average },
  }));
});
autocannon.track(instance, { renderProgressBar: false, renderResultsTable: false, renderLatencyTable: false });
