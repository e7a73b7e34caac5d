#!/usr/bin/env node
// tests/deploy/validate_manifests.js — CTest deploy.k8s_schema: validates every object of each
// kustomization directory against the Kubernetes API schemas of `kubernetes-models` and checks
// what a schema cannot see (selectors, names, ports, probes, security settings, shutdown timing).
//   node validate_manifests.js [--countd BIN] DIR...
// With --countd, every COUNTD_* variable of the ConfigMap and every container arg must be a flag
// `countd --helpfull` lists. When a kubectl >= 1.21 is installed, `kubectl kustomize DIR` must
// produce the same objects as render.js (the renderer the tests use).
// Limitation: kubernetes-models checks types, formats, enums and required fields; the
// Kubernetes schemas allow unknown fields, so a misspelt optional field is not reported.
'use strict';
const { execFileSync, spawnSync } = require('child_process');
const util = require('util');
const { render } = require('./render.js');

function modelFor(o) {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : [null, o.apiVersion];
  const mod = group ? `kubernetes-models/${group}/${version}/${o.kind}` : `kubernetes-models/${version}/${o.kind}`;
  try {
    return require(mod)[o.kind];
  } catch (e) {
    return null;
  }
}

function countdFlags(bin) {
  const r = spawnSync(bin, ['--helpfull'], { encoding: 'utf8' });
  const names = new Set();
  for (const m of (r.stdout + r.stderr).matchAll(/^\s+--([A-Za-z0-9_]+) \(/gm)) names.add(m[1]);
  if (names.size === 0) throw new Error(`${bin} --helpfull listed no flags`);
  return names;
}

function durationSeconds(s) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(String(s));
  if (!m) return NaN;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]];
}

function kubectlKustomize(dir) {
  const v = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  if (v.error || v.status !== 0) return { skipped: 'kubectl not installed' };
  const minor = parseInt(JSON.parse(v.stdout).clientVersion.minor, 10);
  if (!(minor >= 21)) return { skipped: `kubectl 1.${minor} bundles a kustomize older than v4` };
  const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  return { objects: require('yaml').parseAllDocuments(out).map((d) => d.toJS()).filter(Boolean) };
}

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  }
  return v;
}

// Authentication in the container's args: --auth=required with both credential files, each in a
// read-only mount of a Secret volume whose items provide that file. The Secret itself must not
// be among the rendered objects (it is created by the operator, never committed).
function checkCredentials(cid, c, volumes, objects, fail) {
  const args = new Map((c.args || []).map((a) => {
    const [name, ...value] = a.replace(/^--/, '').split('=');
    return [name.replace(/_/g, '-'), value.join('=')];
  }));
  if (args.get('auth') !== 'required') { fail(`${cid}: args must set --auth=required`); return; }
  for (const flag of ['operator-token-file', 'secrets-key-file']) {
    const file = args.get(flag);
    if (!file) { fail(`${cid}: --auth=required needs --${flag}`); continue; }
    const mount = (c.volumeMounts || []).find((m) => file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`));
    if (!mount) { fail(`${cid}: --${flag}=${file} is in no volumeMount`); continue; }
    if (mount.readOnly !== true) fail(`${cid}: the mount of --${flag} (${mount.mountPath}) must be readOnly`);
    const volume = volumes.get(mount.name);
    if (!volume || !volume.secret) { fail(`${cid}: --${flag} must come from a Secret volume, not ${JSON.stringify(volume)}`); continue; }
    const rel = file.slice(mount.mountPath.replace(/\/$/, '').length + 1);
    const items = volume.secret.items;
    if (items && !items.some((i) => i.path === rel)) fail(`${cid}: Secret volume ${mount.name} has no item for ${rel}`);
    if (objects.some((o) => o.kind === 'Secret' && o.metadata.name === volume.secret.secretName)) {
      fail(`Secret/${volume.secret.secretName} must not be in the manifests (credentials are never committed)`);
    }
  }
}

function checkDir(dir, flags, errors) {
  const fail = (msg) => errors.push(`${dir}: ${msg}`);
  const objects = render(dir);
  for (const o of objects) {
    const Model = modelFor(o);
    const id = `${o.kind}/${o.metadata && o.metadata.name}`;
    if (!Model) { fail(`${id}: no kubernetes-models class for ${o.apiVersion} ${o.kind}`); continue; }
    try {
      new Model(o).validate();
    } catch (e) {
      fail(`${id}: ${e.message}`);
    }
  }
  const byKind = (k) => objects.filter((o) => o.kind === k);
  const get = (k, n) => objects.find((o) => o.kind === k && o.metadata.name === n);
  const subset = (sel, labels) => Object.entries(sel || {}).every(([k, v]) => (labels || {})[k] === v);

  for (const sts of byKind('StatefulSet')) {
    const id = `StatefulSet/${sts.metadata.name}`;
    const pod = sts.spec.template;
    const labels = pod.metadata.labels;
    if (!subset(sts.spec.selector.matchLabels, labels)) fail(`${id}: selector does not match the template labels`);
    const headless = get('Service', sts.spec.serviceName);
    if (!headless || headless.spec.clusterIP !== 'None') fail(`${id}: serviceName ${sts.spec.serviceName} is not a headless Service here`);
    const ps = pod.spec;
    const psc = ps.securityContext || {};
    if (psc.runAsNonRoot !== true || psc.runAsUser !== 10001 || psc.fsGroup !== 10001) fail(`${id}: pod must run as non-root uid 10001 with fsGroup 10001`);
    if (!psc.seccompProfile || psc.seccompProfile.type !== 'RuntimeDefault') fail(`${id}: seccompProfile must be RuntimeDefault`);
    const volumes = new Map((ps.volumes || []).map((v) => [v.name, v]));
    const claims = new Set((sts.spec.volumeClaimTemplates || []).map((c) => c.metadata.name));
    const cm = new Map();
    for (const c of ps.containers) {
      const cid = `${id} container ${c.name}`;
      const sc = c.securityContext || {};
      if (sc.readOnlyRootFilesystem !== true) fail(`${cid}: readOnlyRootFilesystem must be true`);
      if (sc.allowPrivilegeEscalation !== false) fail(`${cid}: allowPrivilegeEscalation must be false`);
      if (!sc.capabilities || !(sc.capabilities.drop || []).includes('ALL')) fail(`${cid}: capabilities must drop ALL`);
      if (!c.resources || !c.resources.limits || !c.resources.limits.memory) fail(`${cid}: no memory limit`);
      if (!c.resources || !c.resources.requests || !c.resources.requests.memory) fail(`${cid}: no memory request`);
      const ports = new Map((c.ports || []).map((p) => [p.name, p.containerPort]));
      const portNumbers = new Set(ports.values());
      const resolve = (p) => (typeof p === 'number' ? p : ports.get(p));
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
        const p = c[probe];
        if (!p) { fail(`${cid}: no ${probe}`); continue; }
        const action = p.httpGet || p.grpc || p.tcpSocket;
        if (!action || !portNumbers.has(resolve(action.port))) fail(`${cid}: ${probe} port ${action && action.port} is not a container port`);
      }
      if (!c.readinessProbe || !c.readinessProbe.grpc) fail(`${cid}: readinessProbe must be the gRPC health check`);
      const mounts = new Map((c.volumeMounts || []).map((m) => [m.mountPath, m.name]));
      for (const [mp, name] of mounts) {
        if (!volumes.has(name) && !claims.has(name)) fail(`${cid}: volumeMount ${name} (${mp}) has no volume`);
      }
      if (!claims.has(mounts.get('/data'))) fail(`${cid}: /data must be a volumeClaimTemplate`);
      const tmp = volumes.get(mounts.get('/tmp'));
      if (!tmp || !tmp.emptyDir) fail(`${cid}: /tmp must be an emptyDir (the root filesystem is read-only)`);
      for (const ef of c.envFrom || []) {
        const ref = ef.configMapRef && get('ConfigMap', ef.configMapRef.name);
        if (!ref) fail(`${cid}: envFrom ${JSON.stringify(ef)} names no ConfigMap here`);
        else Object.entries(ref.data || {}).forEach(([k, v]) => cm.set(k, v));
      }
      if (flags) {
        for (const a of c.args || []) {
          const name = a.replace(/^--/, '').split('=')[0].replace(/-/g, '_');
          if (!a.startsWith('--') || !flags.has(name)) fail(`${cid}: arg ${a} is not a countd flag`);
        }
      }
      checkCredentials(cid, c, volumes, objects, fail);
    }
    for (const k of cm.keys()) {
      if (!k.startsWith('COUNTD_')) fail(`${id}: ConfigMap key ${k} is not a COUNTD_ variable`);
      else if (flags && !flags.has(k.slice(7).toLowerCase())) fail(`${id}: ${k} names no countd flag`);
    }
    // countd drains for --grace-period, gRPC's shutdown may add ~5 s, then the database closes.
    const grace = durationSeconds(cm.get('COUNTD_GRACE_PERIOD') || '10s');
    if (!(ps.terminationGracePeriodSeconds >= grace + 5 + 3)) {
      fail(`${id}: terminationGracePeriodSeconds ${ps.terminationGracePeriodSeconds} leaves no margin over grace period ${grace}s + ~5 s drain`);
    }
    for (const svc of byKind('Service')) {
      if (!subset(svc.spec.selector, labels)) fail(`Service/${svc.metadata.name}: selector does not match ${id}`);
      const names = new Set(ps.containers.flatMap((c) => (c.ports || []).map((p) => p.name)));
      for (const p of svc.spec.ports) {
        if (typeof p.targetPort === 'string' && !names.has(p.targetPort)) fail(`Service/${svc.metadata.name}: targetPort ${p.targetPort} is no container port`);
      }
    }
    for (const pdb of byKind('PodDisruptionBudget')) {
      if (!subset(pdb.spec.selector.matchLabels, labels)) fail(`PodDisruptionBudget/${pdb.metadata.name}: selector does not match ${id}`);
    }
  }
  if (byKind('StatefulSet').length !== 1) fail('want exactly one StatefulSet');

  const k = kubectlKustomize(dir);
  if (k.skipped) {
    console.log(`${dir}: kubectl cross-check skipped (${k.skipped})`);
  } else {
    const key = (o) => `${o.kind}/${o.metadata.name}`;
    const a = new Map(objects.map((o) => [key(o), sortKeys(o)]));
    const b = new Map(k.objects.map((o) => [key(o), sortKeys(o)]));
    for (const id of new Set([...a.keys(), ...b.keys()])) {
      if (!util.isDeepStrictEqual(a.get(id), b.get(id))) {
        fail(`${id}: render.js and kubectl kustomize differ:\n  render.js: ${JSON.stringify(a.get(id))}\n  kubectl:   ${JSON.stringify(b.get(id))}`);
      }
    }
    console.log(`${dir}: kubectl kustomize renders the same ${b.size} objects`);
  }
  console.log(`${dir}: ${objects.length} objects: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
}

function main() {
  const args = process.argv.slice(2);
  let flags = null;
  const dirs = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--countd') flags = countdFlags(args[++i]);
    else dirs.push(args[i]);
  }
  if (dirs.length === 0) { console.error('usage: validate_manifests.js [--countd BIN] DIR...'); process.exit(2); }
  const errors = [];
  for (const d of dirs) {
    try { checkDir(d, flags, errors); } catch (e) { errors.push(`${d}: ${e.message}`); }
  }
  for (const e of errors) console.log(`FAIL: ${e}`);
  if (errors.length === 0) console.log('ok');
  process.exit(errors.length ? 1 : 0);
}

module.exports = { durationSeconds };
if (require.main === module) main();
