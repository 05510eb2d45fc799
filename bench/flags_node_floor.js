// The floor for bench/flags_bench.sh: the same workload through the Unleash Node SDK's
// evaluator (unleash-client's UnleashClient over an in-memory repository, so no HTTP and
// no polling), on one core.
//   node flags_node_floor.js SDK_DIR DOC.json EVALUATIONS ROUNDS
'use strict';
const fs = require('fs');
const path = require('path');
const { EventEmitter } = require('events');

const [sdkDir, docPath, nArg, roundsArg] = process.argv.slice(2);
const lib = path.join(sdkDir, 'node_modules', 'unleash-client', 'lib');
const UnleashClient = require(path.join(lib, 'client')).default;
const { defaultStrategies } = require(path.join(lib, 'strategy'));

const doc = JSON.parse(fs.readFileSync(docPath, 'utf8'));
const toggles = new Map(doc.features.map((f) => [f.name, f]));
const segments = new Map((doc.segments || []).map((s) => [s.id, s]));
const repo = Object.assign(new EventEmitter(), {
  getToggle: (n) => toggles.get(n),
  getToggles: () => doc.features,
  getTogglesWithSegmentData: () => doc.features,
  getSegment: (id) => segments.get(id),
  stop() {},
  start: async () => {},
});
const client = new UnleashClient(repo, defaultStrategies);

const names = doc.features.map((f) => f.name);
const contexts = [];
for (let i = 0; i < 1000000; i++) {
  const tenant = ((Math.imul(i, 2654435761) >>> 0) >>> 7) % 100;  // as flags_bench.cpp
  contexts.push({ userId: `user-${i}`, environment: 'production', properties: { tenant: `tenant-${tenant}` } });
}

const n = Number(nArg || 2000000);
const rounds = Number(roundsArg || 3);
const rates = [];
let on = 0;
for (let r = 0; r < rounds; r++) {
  on = 0;
  let c = 0;
  let f = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (client.isEnabled(names[f], contexts[c], () => false)) on++;
    if (++c === contexts.length) c = 0;
    f += 73;
    if (f >= names.length) f -= names.length;
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  rates.push(n / secs);
}
rates.sort((a, b) => a - b);
console.log(`node-sdk   ${n} evaluations x ${rounds} rounds: best ${(rates[rates.length - 1] / 1e6).toFixed(3)} M/s, ` +
  `median ${(rates[Math.floor(rates.length / 2)] / 1e6).toFixed(3)} M/s (on: ${((100 * on) / n).toFixed(1)}%)`);
