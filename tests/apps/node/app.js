// A small Node.js service with a genuinely cold V8 start, for warmgate's honesty benchmark.
//
// The same work as tests/apps/jvm: every API request builds and parses a JSON catalogue,
// validates it with regular expressions, aggregates and formats it, or runs a regex search with
// tf-idf scoring over a corpus. Usage: `node app.js [PORT]` (0 or none picks a free port); the
// first stdout line is `listening on http://127.0.0.1:PORT`. Endpoints: GET /health (200 at
// once), GET /api/report?items=N, GET /api/search?q=WORD. Node.js built-ins only.
'use strict';

const http = require('node:http');

const WORDS = [
  'stream', 'buffer', 'latency', 'thread', 'socket', 'kernel', 'cache', 'vector',
  'parser', 'window', 'signal', 'driver', 'packet', 'router', 'sample', 'metric',
  'tensor', 'matrix', 'schema', 'record', 'ledger', 'bridge', 'filter', 'sensor',
  'engine', 'quorum', 'replica', 'shard', 'cursor', 'lambda', 'closure', 'module',
  'harbor', 'canyon', 'meadow', 'glacier', 'summit', 'forest', 'river', 'desert',
];
const CATEGORIES = ['books', 'garden', 'kitchen', 'toys', 'tools', 'audio', 'sports', 'office'];

// A small deterministic PRNG (mulberry32), so the same seed gives the same data.
function rng(seed) {
  let a = Number(BigInt.asUintN(32, BigInt(seed) * 2654435761n)) >>> 0;
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
    int(n) {
      return Math.floor(this.next() * n);
    },
  };
}

function corpus(n, seed) {
  const r = rng(seed);
  const out = [];
  for (let i = 0; i < n; i++) {
    const len = 8 + r.int(13);
    const words = [];
    for (let w = 0; w < len; w++) {
      const word = WORDS[r.int(WORDS.length)];
      words.push((w > 0 && r.int(9) === 0 ? ', ' : w > 0 ? ' ' : '') + (r.int(5) === 0 ? word + 's' : word));
    }
    out.push(words.join('') + '.');
  }
  return out;
}

function catalogJson(items, seed) {
  const r = rng(seed);
  const parts = [];
  for (let i = 0; i < items; i++) {
    const tags = [];
    for (let t = 1 + r.int(4); t > 0; t--) tags.push(WORDS[r.int(WORDS.length)]);
    const sku = `SKU-${1000 + r.int(9000)}-${String.fromCharCode(65 + r.int(26), 65 + r.int(26))}`;
    parts.push(JSON.stringify({
      id: seed * 10000 + i,
      name: `${WORDS[r.int(WORDS.length)]} ${WORDS[r.int(WORDS.length)]}`,
      category: CATEGORIES[r.int(CATEGORIES.length)],
      price: Math.round(r.next() * 50000) / 100,
      qty: 1 + r.int(40),
      sku,
      tags,
      note: `ship\tby "${WORDS[r.int(WORDS.length)]}" line ${i}`,
    }));
  }
  return `[${parts.join(',')}]`;
}

const SKU = /^SKU-(\d{4})-([A-Z]{2})$/;

function report(items, seed) {
  const parsed = JSON.parse(catalogJson(items, seed)).map((m) => {
    const sku = SKU.exec(m.sku);
    if (!sku) throw new Error(`bad sku ${m.sku}`);
    return { ...m, skuNumber: Number.parseInt(sku[1], 10), revenue: m.price * m.qty };
  });
  const groups = new Map();
  for (const it of parsed) {
    if (!groups.has(it.category)) groups.set(it.category, []);
    groups.get(it.category).push(it);
  }
  const lines = [];
  let all = 0;
  for (const cat of [...groups.keys()].sort()) {
    const g = groups.get(cat);
    const prices = g.map((i) => i.price).sort((a, b) => a - b);
    const mean = prices.reduce((s, p) => s + p, 0) / prices.length;
    const sd = Math.sqrt(prices.reduce((s, p) => s + (p - mean) ** 2, 0) / Math.max(1, prices.length - 1));
    const geo = Math.exp(g.reduce((s, i) => s + Math.log(1 + i.price), 0) / g.length);
    const revenue = g.reduce((s, i) => s + i.revenue, 0);
    const top = g.reduce((b, i) => (i.revenue > b.revenue || (i.revenue === b.revenue && i.name < b.name) ? i : b));
    const tags = g.reduce((s, i) => s + i.tags.length, 0);
    const skuSum = g.reduce((s, i) => s + (i.skuNumber % 97), 0);
    all += revenue;
    lines.push(`${cat.padEnd(8)} n=${String(g.length).padStart(3)} mean=${mean.toFixed(2).padStart(9)} `
      + `sd=${sd.toFixed(2).padStart(9)} median=${prices[prices.length >> 1].toFixed(2).padStart(9)} `
      + `geo=${geo.toFixed(3).padStart(8)} revenue=${revenue.toFixed(2).padStart(12)} `
      + `top=${top.name.toUpperCase()} tags=${tags} sku=${skuSum}`);
  }
  lines.sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify({ seed, items: parsed.length, revenue: all.toFixed(2), lines }) + '\n';
}

function makeSearch(lines) {
  const df = new Map();
  for (const line of lines) {
    for (const w of new Set(line.match(/[a-z]+/g) || [])) df.set(w, (df.get(w) || 0) + 1);
  }
  return (query, seed) => {
    const q = String(query).toLowerCase().replace(/[^a-z]/g, '') || 'stream';
    const re = new RegExp(`\\b(${q}\\w*)\\b`, 'gi');
    const n = lines.length;
    const start = (seed * 7919) % n;
    const hits = [];
    for (let k = 0; k < n / 2; k++) {
      const idx = (start + k) % n;
      const line = lines[idx];
      let tf = 0;
      let idf = 0;
      for (const m of line.matchAll(re)) {
        tf++;
        idf += Math.log(n / (1 + (df.get(m[1].toLowerCase()) || 0)));
      }
      if (tf > 0) hits.push({ idx, score: ((1 + Math.log(tf)) * idf) / Math.sqrt(line.length), snippet: line.slice(0, 48) });
    }
    hits.sort((a, b) => b.score - a.score || a.idx - b.idx);
    const top = hits.slice(0, 20).map((h) => `#${String(h.idx).padStart(4, '0')} ${h.score.toFixed(4).padStart(7)} ${h.snippet}`);
    return JSON.stringify({ q, matches: hits.length, top }) + '\n';
  };
}

function main() {
  const arg = process.argv[2] || '0';
  const port = Number.parseInt(arg, 10);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write('usage: node app.js [PORT]\n');
    process.exit(64);
  }
  const search = makeSearch(corpus(2000, 7));
  let requests = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const send = (status, type, body) => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    try {
      if (url.pathname === '/health') return send(200, 'text/plain', 'ok\n');
      if (req.method !== 'GET') return send(405, 'text/plain', 'method not allowed\n');
      if (url.pathname === '/api/report') {
        const items = Math.max(1, Math.min(Number.parseInt(url.searchParams.get('items') || '150', 10) || 150, 2000));
        return send(200, 'application/json', report(items, ++requests));
      }
      if (url.pathname === '/api/search') {
        return send(200, 'application/json', search(url.searchParams.get('q') || 'stream', ++requests));
      }
      return send(404, 'text/plain', 'not found\n');
    } catch (e) {
      return send(500, 'text/plain', `error: ${e.name}\n`);
    }
  });
  server.keepAliveTimeout = 60000;
  server.listen(port, '127.0.0.1', () => {
    process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
