// Part of bench/flags_node_agree.sh: every flag of every Unleash client-specification
// document evaluated by the Unleash Node SDK for generated contexts, as JSON lines
// {file, feature, context, enabled, variant, feature_enabled}. Contexts always carry the
// values the flags' stickiness reads, and flags that roll a die (gradualRolloutRandom,
// random stickiness) are left out, so every answer is deterministic.
//   node flags_node_agree.js SDK_DIR SPEC_DIR CONTEXTS_PER_DOCUMENT > out.jsonl
// With FILE URL TOKEN after those, only that document is evaluated, by an unmodified SDK
// (`initialize`) that fetched its flags from the server at URL (`belay serve`) with TOKEN.
'use strict';
const fs = require('fs');
const path = require('path');
const { EventEmitter } = require('events');

const [sdkDir, specDir, perDocArg, onlyFile, serverUrl, token] = process.argv.slice(2);
const lib = path.join(sdkDir, 'node_modules', 'unleash-client', 'lib');
const UnleashClient = require(path.join(lib, 'client')).default;
const { defaultStrategies } = require(path.join(lib, 'strategy'));
const perDoc = Number(perDocArg || 300);

let seed = 12345;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
const pick = (a) => a[rnd(a.length)];
const standard = ['userId', 'sessionId', 'remoteAddress', 'environment', 'appName', 'currentTime'];

// An in-process client over the document itself.
function localClient(doc) {
  const toggles = new Map(doc.features.map((f) => [f.name, f]));
  const segments = new Map((doc.segments || []).map((s) => [s.id, s]));
  const repo = Object.assign(new EventEmitter(), {
    getToggle: (n) => toggles.get(n), getToggles: () => doc.features,
    getTogglesWithSegmentData: () => doc.features, getSegment: (id) => segments.get(id),
    stop() {}, start: async () => {},
  });
  return new UnleashClient(repo, defaultStrategies);
}

function answer(file, doc, client) {
  const text = JSON.stringify(doc);
  // Values: every value the document's constraints name, plus edge cases (ASCII only: the
  // Node SDK hashes UTF-16 code units, belay UTF-8 bytes, as the issue asks).
  const pool = ['', 'a', 'abc', 'dev', 'prod', '12', '12.0', '0', '-1', ' 13 ', '1.2.2', '2.0.0-alpha.1', 'v1.2.3',
    ' 1.2.3 ', '127.0.0.1', '192.168.1.42', '2001:db8::1', 'test@example.com', 'App', 'TEST', 'x\ny', '1e2', '0x10'];
  text.replace(/"values":\[(.*?)\]|"value":"(.*?)"/g, (m, a, b) => {
    if (a) for (const v of JSON.parse(`[${a}]`)) pool.push(String(v));
    if (b) pool.push(b);
  });
  const fields = new Set();
  text.replace(/"contextName":"(.*?)"/g, (m, a) => fields.add(a));
  const sticky = new Set();
  text.replace(/"stickiness":"(.*?)"/g, (m, a) => sticky.add(a));
  const deterministic = doc.features.filter((f) => {
    const t = JSON.stringify(f);
    return !t.includes('gradualRolloutRandom') && !t.includes('"stickiness":"random"');
  });
  for (let i = 0; i < perDoc; i++) {
    const ctx = { userId: `u${rnd(1000)}`, sessionId: `s${rnd(1000)}`, properties: {} };
    for (const n of fields) {
      if (rnd(3) === 0) continue;
      const v = pick(pool);
      if (n === 'currentTime') ctx.currentTime = pick(['2022-01-25T13:00:00.000Z', '2022-01-29T13:00:00.000Z', '2021-12-31']);
      else if (standard.includes(n)) { if (v !== '') ctx[n] = v; }
      else ctx.properties[n] = v;
    }
    for (const s of sticky) if (!standard.includes(s) && s !== 'default') ctx.properties[s] = `k${rnd(1000)}`;
    for (const f of deterministic) {
      const v = client.getVariant(f.name, ctx);
      process.stdout.write(JSON.stringify({ file, feature: f.name, context: ctx, enabled: client.isEnabled(f.name, ctx, () => false),
        variant: v.name, feature_enabled: v.feature_enabled }) + '\n');
    }
  }
}

const documents = JSON.parse(fs.readFileSync(path.join(specDir, 'index.json'), 'utf8'))
  .map((file) => [file, JSON.parse(fs.readFileSync(path.join(specDir, file), 'utf8')).state])
  .filter(([file, doc]) => doc.features && (!onlyFile || file === onlyFile));  // not the delta-API documents
if (!serverUrl) {
  for (const [file, doc] of documents) answer(file, doc, localClient(doc));
} else {
  const { initialize, InMemStorageProvider } = require(path.join(sdkDir, 'node_modules', 'unleash-client'));
  const unleash = initialize({ url: serverUrl, appName: 'belay-agree', customHeaders: { Authorization: token },
    refreshInterval: 60000, metricsInterval: 0, disableMetrics: true, storageProvider: new InMemStorageProvider() });
  unleash.on('error', (e) => { process.stderr.write(`unleash-client: ${e.message}\n`); process.exit(1); });
  unleash.on('synchronized', () => {
    for (const [file, doc] of documents) answer(file, doc, unleash);
    unleash.destroy();
    process.exit(0);
  });
}

