#!/usr/bin/env node
// tests/deploy/check_monitoring.js — CTest deploy.monitoring: checks deploy/k8s/monitoring.
//   node check_monitoring.js --countd BIN --promtool BIN --doc docs/monitoring.md --base DIR DIR
// - The PodMonitor and the PrometheusRule validate against the Prometheus Operator's schemas
//   (@kubernetes-models/prometheus-operator, pinned in package-lock.json).
// - The PodMonitor selects the pods of the base StatefulSet and scrapes a port they declare.
// - Every alert has a severity (critical, warning or info), a summary and a description, and is
//   explained in the "Monitoring and alerts" section of docs/monitoring.md (--doc).
// - Every countd_* and process_* metric an expression uses is one that a real countd (BIN,
//   started here on loopback with --auth=off) lists on GET /metrics.
// - `promtool check rules` accepts the groups (PromQL and annotation templates), and
//   `promtool test rules` passes tests/deploy/alerts_test.yaml, which has a case for every alert.
'use strict';
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const YAML = require('yaml');
const { render } = require('./render.js');
const { PodMonitor } = require('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor');
const { PrometheusRule } = require('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule');

const errors = [];
const fail = (msg) => errors.push(msg);

function args() {
  const out = { dirs: [] };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; ++i) {
    const flag = argv[i];
    if (['--countd', '--promtool', '--doc', '--base'].includes(flag)) {
      out[flag.slice(2)] = argv[++i];
    } else {
      out.dirs.push(flag);
    }
  }
  if (!out.countd || !out.promtool || !out.doc || !out.base || out.dirs.length !== 1) {
    console.error('usage: check_monitoring.js --countd BIN --promtool BIN --doc docs/monitoring.md --base DIR DIR');
    process.exit(2);
  }
  return out;
}

// Starts countd on loopback ports with a temporary data directory and returns the metric
// families of its GET /metrics (names from the "# TYPE" lines). Stops it again.
async function countdMetricFamilies(bin) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'countd-monitoring-'));
  const child = spawn(bin, [`--data-dir=${dir}/data`, '--grpc-addr=127.0.0.1:0',
                            '--http-addr=127.0.0.1:0', '--auth=off'],
                      { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const address = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('countd printed no http address in 30 s')), 30000);
      child.stdout.on('data', (d) => {
        out += d;
        const m = /^http listening on (\S+)$/m.exec(out);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`countd exited (${code})`)); });
    });
    const body = await new Promise((resolve, reject) => {
      const req = http.get(`http://${address}/metrics`, { timeout: 10000 }, (res) => {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve(text));
      });
      req.on('timeout', () => req.destroy(new Error('GET /metrics timed out')));
      req.on('error', reject);
    });
    const families = new Map();
    for (const m of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(m[1], m[2]);
    return families;
  } finally {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// The family a sample name belongs to (histogram series carry _bucket, _sum, _count).
function familyOf(name, families) {
  if (families.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m && families.get(m[1]) === 'histogram') return m[1];
  return null;
}

function promtool(bin, argv, cwd) {
  const r = spawnSync(bin, argv, { cwd, encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) fail(`promtool ${argv.join(' ')} failed:\n${r.stdout}${r.stderr}`);
}

async function main() {
  const a = args();
  const objects = render(a.dirs[0]);
  const monitors = objects.filter((o) => o.kind === 'PodMonitor');
  const rules = objects.filter((o) => o.kind === 'PrometheusRule');
  if (monitors.length !== 1 || rules.length !== 1 || objects.length !== 2) {
    fail(`want one PodMonitor and one PrometheusRule, got ${objects.map((o) => o.kind).join(', ')}`);
  }
  for (const o of objects) {
    const Model = o.kind === 'PodMonitor' ? PodMonitor : o.kind === 'PrometheusRule' ? PrometheusRule : null;
    if (!Model) continue;
    try { new Model(o).validate(); } catch (e) { fail(`${o.kind}/${o.metadata.name}: ${e.message}`); }
  }

  // The PodMonitor against the base StatefulSet.
  const sts = render(a.base).find((o) => o.kind === 'StatefulSet');
  for (const pm of monitors) {
    const podLabels = sts.spec.template.metadata.labels || {};
    for (const [k, v] of Object.entries(pm.spec.selector.matchLabels || {})) {
      if (podLabels[k] !== v) fail(`PodMonitor selector ${k}=${v} does not match the StatefulSet's pods`);
    }
    const ports = new Set(sts.spec.template.spec.containers.flatMap((c) => (c.ports || []).map((p) => p.name)));
    for (const ep of pm.spec.podMetricsEndpoints) {
      if (!ports.has(ep.port)) fail(`PodMonitor port "${ep.port}" is not a container port of countd`);
      if (ep.path !== '/metrics') fail(`PodMonitor path ${ep.path}: countd serves /metrics`);
    }
  }

  // Alerts: labels, annotations, runbook rows in the docs, metric names.
  const doc = fs.readFileSync(a.doc, 'utf8');
  // The section runs to the next "## " heading or to the end of the page.
  const section = /^## Monitoring and alerts$([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(doc);
  if (!section) fail(`${a.doc} has no "## Monitoring and alerts" section`);
  const families = await countdMetricFamilies(a.countd);
  const groups = rules.length ? rules[0].spec.groups : [];
  let alerts = 0;
  for (const g of groups) {
    for (const r of g.rules) {
      const name = r.alert || r.record;
      if (r.alert) {
        ++alerts;
        if (!['critical', 'warning', 'info'].includes((r.labels || {}).severity)) {
          fail(`${name}: severity must be critical, warning or info`);
        }
        for (const k of ['summary', 'description']) {
          if (!(r.annotations || {})[k]) fail(`${name}: no ${k} annotation`);
        }
        if (section && !section[1].includes(`\`${name}\``)) fail(`${name} is not explained in ${a.doc}`);
      }
      for (const m of String(r.expr).matchAll(/\b((?:countd|process)_[a-z0-9_]+)\b/g)) {
        if (!familyOf(m[1], families)) fail(`${name}: countd exports no metric ${m[1]}`);
      }
    }
  }
  if (alerts === 0) fail('no alerts');
  const tested = new Set();
  for (const t of YAML.parse(fs.readFileSync(path.join(__dirname, 'alerts_test.yaml'), 'utf8')).tests) {
    for (const c of t.alert_rule_test || []) tested.add(c.alertname);
  }
  for (const g of groups) {
    for (const r of g.rules) {
      if (r.alert && !tested.has(r.alert)) fail(`${r.alert} has no case in alerts_test.yaml`);
    }
  }

  // promtool: syntax and templates on the full groups, the unit tests without annotations.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'countd-rules-'));
  try {
    fs.writeFileSync(path.join(work, 'rules_full.yaml'), YAML.stringify({ groups }));
    promtool(a.promtool, ['check', 'rules', 'rules_full.yaml'], work);
    const bare = JSON.parse(JSON.stringify(groups));
    for (const g of bare) for (const r of g.rules) delete r.annotations;
    fs.writeFileSync(path.join(work, 'rules.yaml'), YAML.stringify({ groups: bare }));
    fs.copyFileSync(path.join(__dirname, 'alerts_test.yaml'), path.join(work, 'alerts_test.yaml'));
    promtool(a.promtool, ['test', 'rules', 'alerts_test.yaml'], work);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }

  for (const e of errors) console.error(`FAIL ${e}`);
  if (!errors.length) console.log(`deploy.monitoring: ${alerts} alerts checked`);
  process.exit(errors.length ? 1 : 0);
}

main().catch((e) => { console.error(`FAIL ${e.stack || e}`); process.exit(1); });
