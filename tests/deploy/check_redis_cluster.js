#!/usr/bin/env node
// tests/deploy/check_redis_cluster.js — CTest deploy.redis_cluster: runs the Redis Cluster of a
// kustomization directory (deploy/k8s/redis-cluster) the way Kubernetes would, on loopback.
//   node check_redis_cluster.js DIR
// The StatefulSet's container (command, env, volume mounts) and the Job's are rendered with
// render.js and run here with redis-server/redis-cli 7.0 from PATH: the ConfigMap and Secret
// volumes become temporary directories holding their items (the Secret's password is made here
// at run time), each pod's volumeClaimTemplate and emptyDirs a directory of its own, the
// downward API gives POD_IP 127.0.0.1 and the pod's name. The only other changes are for
// loopback: REDIS_PORT is a free port per node, redis-server gets --bind 127.0.0.1, the Job's
// node names become 127.0.0.1:<port> in order, and REDIS_ANNOUNCE_HOSTNAME is "127.0.0.1" (the
// pods' DNS names do not exist here; an address resolves to itself).
// Checks, in order:
//   - start.sh refuses a password with a space, a short one, and a missing file, starting nothing;
//   - start.sh waiting for a peer's name (one that does not resolve, REDIS_RESOLVE_WAIT_SECONDS
//     300) ends within 5 s of SIGTERM with its trap's status 143, starting nothing. It runs as
//     PID 1 of a PID namespace of its own, as in its container, where the kernel drops the signals
//     PID 1 has no handler for (unshare; where unshare cannot make one, as an ordinary process);
//   - six nodes start; without the password every command is refused (NOAUTH); the running
//     configuration has cluster mode, appendonly yes, appendfsync always, noeviction,
//     shutdown-on-sigterm force;
//   - the liveness and readiness probes pass on each node alone;
//   - the Job forms 3 masters with one replica each covering all 16384 slots; the readiness
//     probe then passes (cluster ok, replicas in sync) and a write is acknowledged by WAIT 1;
//   - the Job run again exits 0 and changes nothing (same node ids, same epoch);
//   - the replica holding the write, stopped while it writes its first AOF (as after every full
//     sync, e.g. the restart below; held there by rdb-key-save-delay), exits 0 within 5 s of
//     SIGTERM (Redis 7.0 ignores that SIGTERM for good unless shutdown-on-sigterm has force);
//   - every node stopped, every address in every nodes.conf made stale (127.0.0.9, where nothing
//     listens), every node started again: start.sh finds the others by name, the cluster is ok
//     again and the write is still there (AOF);
//   - a node whose volume is lost comes back empty: the Job exits 1 naming it and leaves the
//     cluster as it was.
// Every child is started here, ended by its pid, and waited for; every wait is bounded.
'use strict';
const { spawn, spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { render } = require('./render.js');

const dir = process.argv[2];
if (!dir) { console.error('usage: check_redis_cluster.js DIR'); process.exit(2); }
const errors = [];
const fail = (msg) => { errors.push(msg); console.log(`FAIL: ${msg}`); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const objects = render(dir);
const sts = objects.find((o) => o.kind === 'StatefulSet' && o.spec.template.spec.containers.some((c) => c.name === 'redis'));
const job = objects.find((o) => o.kind === 'Job');
if (!sts || !job) { console.log(`FAIL: ${dir}: want a StatefulSet with a container redis and a Job`); process.exit(1); }
const container = sts.spec.template.spec.containers.find((c) => c.name === 'redis');
const jobContainer = job.spec.template.spec.containers[0];
const N = sts.spec.replicas;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'countd-redis-cluster-'));
const password = crypto.randomBytes(32).toString('base64');
const children = new Map();  // node index -> { child, exited, pid1 }
// Runs a command as PID 1 of a new PID namespace; --kill-child: SIGKILL to unshare ends it too.
// unshare itself ignores SIGTERM: signal the PID 1 (entry.pid1), as the kubelet does.
const UNSHARE = ['unshare', '--user', '--map-root-user', '--pid', '--fork', '--kill-child'];
const canUnshare = spawnSync(UNSHARE[0], [...UNSHARE.slice(1), 'true']).status === 0;

// A volume of the pod spec as a local directory: ConfigMap and Secret items as files.
function materialize(volume, where, secretText) {
  fs.mkdirSync(where, { recursive: true });
  if (volume.configMap) {
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === volume.configMap.name);
    if (!cm) throw new Error(`ConfigMap ${volume.configMap.name} is not in ${dir}`);
    const items = volume.configMap.items || Object.keys(cm.data).map((k) => ({ key: k, path: k }));
    for (const i of items) fs.writeFileSync(path.join(where, i.path), cm.data[i.key]);
  } else if (volume.secret) {
    const items = volume.secret.items || [{ key: 'password', path: 'password' }];
    for (const i of items) {
      if (i.key !== 'password') throw new Error(`Secret ${volume.secret.secretName}: the test cannot make key ${i.key}`);
      fs.writeFileSync(path.join(where, i.path), `${secretText}\n`, { mode: 0o600 });
    }
  }
}

// mountPath -> local directory for one pod of `spec` (`name`: where its directories go).
function mountsFor(podSpec, c, name, secretText) {
  const volumes = new Map((podSpec.volumes || []).map((v) => [v.name, v]));
  const map = new Map();
  for (const m of c.volumeMounts || []) {
    const local = path.join(tmp, name, m.name);
    const v = volumes.get(m.name);
    if (v) materialize(v, local, secretText);
    else fs.mkdirSync(local, { recursive: true });  // a volumeClaimTemplate
    map.set(m.mountPath, local);
  }
  return map;
}

function localPath(p, mounts) {
  for (const [mp, local] of mounts) {
    if (p === mp) return local;
    if (p.startsWith(`${mp}/`)) return local + p.slice(mp.length);
  }
  return p;
}

// The container's environment as the kubelet builds it: values with $(VAR) expanded, downward
// API fields, then paths moved to the local directories and the loopback overrides.
function envFor(c, mounts, podName, overrides) {
  const env = {};
  for (const e of c.env || []) {
    if (e.value !== undefined) {
      env[e.name] = String(e.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v) => (v in env ? env[v] : m));
    } else if (e.valueFrom && e.valueFrom.fieldRef) {
      const f = e.valueFrom.fieldRef.fieldPath;
      env[e.name] = { 'status.podIP': '127.0.0.1', 'metadata.name': podName, 'metadata.namespace': 'test' }[f];
      if (env[e.name] === undefined) throw new Error(`env ${e.name}: fieldRef ${f} not supported by the test`);
    } else {
      throw new Error(`env ${e.name}: only values and fieldRefs are supported by the test`);
    }
  }
  for (const k of Object.keys(env)) env[k] = localPath(env[k], mounts);
  return { PATH: process.env.PATH, HOME: tmp, ...env, ...overrides };
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function freeBlock() {
  // Below Linux's ephemeral ports (32768..), bus ports (+10000) included, and apart from
  // scripts/redis-cluster.sh's 20001..21496: no client connection can hold one meanwhile.
  for (let base = 21501; base <= 21991; base += 10) {
    let ok = true;
    for (let i = 0; i < N && ok; i++) ok = (await portFree(base + i)) && (await portFree(base + i + 10000));
    if (ok) return base;
  }
  throw new Error('no free block of ports in 21501..21991');
}

let base = 0;
const nodeName = (i) => `${sts.metadata.name}-${i}`;
const nodeMounts = [];
const nodeEnv = [];

function prepareNode(i, secretText) {
  const mounts = mountsFor(sts.spec.template.spec, container, nodeName(i), secretText);
  nodeMounts[i] = mounts;
  nodeEnv[i] = envFor(container, mounts, nodeName(i),
    { REDIS_PORT: String(base + i), REDIS_ANNOUNCE_HOSTNAME: '127.0.0.1' });
}

// Runs the container's command for node i (start.sh, which execs redis-server); with asPid1, as
// PID 1 of a PID namespace of its own (see UNSHARE; findPid1 then fills entry.pid1).
function startNode(i, { asPid1 = false } = {}) {
  const cmd = [...(asPid1 ? UNSHARE : []), ...container.command.map((a) => localPath(a, nodeMounts[i])),
    '--bind', '127.0.0.1'];
  const log = fs.openSync(path.join(tmp, `${nodeName(i)}.log`), 'a');
  const child = spawn(cmd[0], cmd.slice(1), { env: nodeEnv[i], cwd: tmp, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const entry = { child, exited: null, pid1: 0 };
  child.on('exit', (code, signal) => { entry.exited = { code, signal }; });
  children.set(i, entry);
  return entry;
}

// The pids whose parent is `pid`, from /proc.
function childPids(pid) {
  const pids = [];
  for (const d of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let stat = '';
    try { stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8'); } catch (e) { continue; }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) pids.push(Number(d));
  }
  return pids;
}

// The PID 1 that unshare forked for `entry`.
async function findPid1(entry) {
  const end = Date.now() + 5000;
  while (!entry.exited && Date.now() < end) {
    const [pid] = childPids(entry.child.pid);
    if (pid) return pid;
    await sleep(50);
  }
  return 0;
}

// SIGTERM to what the kubelet would signal: the container's PID 1.
function terminate(entry) {
  if (!entry.pid1) { entry.child.kill('SIGTERM'); return; }
  try { process.kill(entry.pid1, 'SIGTERM'); } catch (e) { /* it has just exited */ }
}

async function waitExit(entry, ms) {
  const end = Date.now() + ms;
  while (!entry.exited && Date.now() < end) await sleep(50);
  return entry.exited;
}

async function stopNode(i) {
  const entry = children.get(i);
  if (!entry || entry.exited) return;
  terminate(entry);
  if (!(await waitExit(entry, 20000))) {
    fail(`${nodeName(i)} did not stop 20 s after SIGTERM; killing it`);
    entry.child.kill('SIGKILL');
    await waitExit(entry, 5000);
  }
}

function cli(port, args, { auth = true, input } = {}) {
  const env = { PATH: process.env.PATH, HOME: tmp };
  if (auth) env.REDISCLI_AUTH = password;
  const r = spawnSync('redis-cli', ['--no-auth-warning', '-h', '127.0.0.1', '-p', String(port), ...args],
    { env, encoding: 'utf8', timeout: 10000, input });
  return (r.stdout || '') + (r.stderr || '');
}
const field = (text, name) => ((new RegExp(`^${name}:(.*)$`, 'm').exec(text.replace(/\r/g, '')) || [])[1] || '').trim();

async function until(what, ms, fn) {
  const end = Date.now() + ms;
  for (;;) {
    if (fn()) return true;
    if (Date.now() >= end) { fail(`${what} (waited ${ms / 1000} s)`); return false; }
    await sleep(200);
  }
}

// A probe of the container (exec), with the node's environment.
function probe(i, kind) {
  const cmd = container[`${kind}Probe`].exec.command.map((a) => localPath(a, nodeMounts[i]));
  const r = spawnSync(cmd[0], cmd.slice(1), { env: nodeEnv[i], encoding: 'utf8', timeout: 15000 });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

// Runs the Job's container once; returns its exit status and output.
function runJob() {
  const mounts = mountsFor(job.spec.template.spec, jobContainer, 'job', password);
  const env = envFor(jobContainer, mounts, 'job', {});
  const want = Array.from({ length: N }, (_, i) => `${nodeName(i)}.${sts.spec.serviceName}:`);
  const names = String(env.REDIS_CLUSTER_NODES || '').split(/\s+/).filter(Boolean);
  if (names.length !== N || names.some((n, i) => !n.startsWith(want[i]))) {
    throw new Error(`Job REDIS_CLUSTER_NODES ${env.REDIS_CLUSTER_NODES}: want the ${N} pods in order`);
  }
  env.REDIS_CLUSTER_NODES = names.map((_, i) => `127.0.0.1:${base + i}`).join(' ');
  const cmd = jobContainer.command.map((a) => localPath(a, mounts));
  const r = spawnSync(cmd[0], cmd.slice(1), { env, encoding: 'utf8', timeout: 180000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function clusterNodes(port) {
  return cli(port, ['cluster', 'nodes']).replace(/\r/g, '').split('\n').filter((l) => /^[0-9a-f]{40} /.test(l))
    .map((l) => { const f = l.split(' '); return { id: f[0], addr: f[1], flags: f[2].split(','), master: f[3], link: f[7], slots: f.slice(8) }; });
}

async function checkBadPasswords() {
  const cases = [
    ['a password with a space', 'has a space in it 0123456789', /may hold only/],
    ['a short password', 'abc', /shorter than 16/],
    ['no password file', null, /cannot read/],
  ];
  for (const [what, text, want] of cases) {
    prepareNode(0, text === null ? '' : text);
    if (text === null) fs.rmSync(nodeEnv[0].REDIS_PASSWORD_FILE);
    const entry = startNode(0);
    const exited = await waitExit(entry, 10000);
    const log = fs.readFileSync(path.join(tmp, `${nodeName(0)}.log`), 'utf8');
    if (!exited) { fail(`start.sh with ${what}: still running after 10 s`); await stopNode(0); }
    else if (exited.code === 0) fail(`start.sh with ${what}: exit status 0`);
    else if (!want.test(log)) fail(`start.sh with ${what}: no message matching ${want}:\n${log}`);
    if (!(await portFree(base))) fail(`start.sh with ${what}: something listens on ${base}`);
    fs.rmSync(path.join(tmp, nodeName(0)), { recursive: true, force: true });
    fs.rmSync(path.join(tmp, `${nodeName(0)}.log`), { force: true });
  }
}

// start.sh held in its wait for a peer's name must end at SIGTERM: in its container it is PID 1,
// which gets only the signals it has a handler for, and a trap runs only once the foreground
// command has ended.
async function checkStopWhileResolving() {
  prepareNode(0, password);
  nodeEnv[0].REDIS_RESOLVE_WAIT_SECONDS = '300';
  const nodesConf = path.join(localPath(nodeEnv[0].REDIS_DATA_DIR, nodeMounts[0]), 'nodes.conf');
  const unresolved = path.join(localPath(nodeEnv[0].REDIS_RUN_DIR, nodeMounts[0]), 'unresolved');
  // The peer's name is under .invalid, which never resolves (RFC 6761).
  const self = 'a'.repeat(40);
  const text = `${self} 127.0.0.1:${base}@${base + 10000},127.0.0.1 myself,master - 0 0 1 connected 0-16383\n` +
    `${'b'.repeat(40)} 127.0.0.9:${base + 1}@${base + 10001},${nodeName(1)}.invalid slave ${self} 0 0 1 connected\n` +
    'vars currentEpoch 1 lastVoteEpoch 0\n';
  fs.writeFileSync(nodesConf, text);
  const how = canUnshare ? 'as PID 1 of its PID namespace' : 'as an ordinary process (unshare cannot make a PID namespace here)';
  const entry = startNode(0, { asPid1: canUnshare });
  const waiting = () => fs.existsSync(unresolved) && fs.readFileSync(unresolved, 'utf8').trim() === '1';
  if (await until(`start.sh ${how} waits for ${nodeName(1)}.invalid`, 15000, () => entry.exited || waiting())) {
    if (canUnshare) entry.pid1 = await findPid1(entry);
    if (entry.exited || (canUnshare && !entry.pid1)) {
      fail(`start.sh ${how} with a peer that does not resolve: exited before SIGTERM (${JSON.stringify(entry.exited)})`);
    } else {
      const t0 = Date.now();
      terminate(entry);
      const exited = await waitExit(entry, 5000);
      if (!exited) fail(`start.sh ${how}, waiting for a peer's name: still running 5 s after SIGTERM`);
      else if (exited.code !== 143) fail(`start.sh ${how}, waiting for a peer's name, SIGTERM: want exit status 143, have ${JSON.stringify(exited)}`);
      else console.log(`start.sh ${how}, waiting for a peer's name: exit 143 ${Date.now() - t0} ms after SIGTERM`);
    }
  }
  if (!entry.exited) { entry.child.kill('SIGKILL'); await waitExit(entry, 5000); }
  if (!(await portFree(base))) fail(`start.sh stopped while waiting for a peer's name: something listens on ${base}`);
  if (fs.readFileSync(nodesConf, 'utf8') !== text) fail('start.sh stopped while waiting for a peer\'s name changed nodes.conf');
  fs.rmSync(path.join(tmp, nodeName(0)), { recursive: true, force: true });
  fs.rmSync(path.join(tmp, `${nodeName(0)}.log`), { force: true });
}

// The replica holding the key (a first AOF is written only when there is data to write) is put
// into the state that follows every full sync: appendonly switched on, the AOF rewrite child
// writing the first AOF. rdb-key-save-delay (in µs per key) holds the child there; the server's
// own value goes back to 0 so that its final RDB save does not wait (the child keeps its copy).
async function checkStopWhileWritingFirstAof() {
  const i = [...Array(N).keys()].find((k) => field(cli(base + k, ['info', 'replication']), 'role') === 'slave' &&
    Number(cli(base + k, ['dbsize']).trim()) > 0);
  if (i === undefined) { fail('no replica holds the acknowledged write'); return; }
  const port = base + i;
  const set = (k, v) => {
    const r = cli(port, ['config', 'set', k, v]).trim();
    if (r !== 'OK') fail(`${nodeName(i)}: CONFIG SET ${k} ${v}: ${r}`);
    return r === 'OK';
  };
  const rewriting = set('rdb-key-save-delay', '30000000') && set('appendonly', 'no') && set('appendonly', 'yes') &&
    await until(`${nodeName(i)} writes its first AOF`, 10000,
      () => field(cli(port, ['info', 'persistence']), 'aof_rewrite_in_progress') === '1');
  set('rdb-key-save-delay', '0');
  if (!rewriting) return;
  const entry = children.get(i);
  terminate(entry);
  const exited = await waitExit(entry, 5000);
  const log = fs.readFileSync(path.join(tmp, `${nodeName(i)}.log`), 'utf8').split('\n').slice(-15).join('\n');
  if (!exited) {
    fail(`${nodeName(i)} (replica) still running 5 s after SIGTERM while it writes its first AOF; killing it:\n${log}`);
    for (const pid of childPids(entry.child.pid)) process.kill(pid, 'SIGKILL');  // the AOF rewrite
    entry.child.kill('SIGKILL');
    await waitExit(entry, 5000);
  } else if (exited.code !== 0) {
    fail(`${nodeName(i)} (replica) stopped while it writes its first AOF: ${JSON.stringify(exited)}:\n${log}`);
  } else if (!/Writing initial AOF/.test(log)) {
    fail(`${nodeName(i)} had written its first AOF before SIGTERM, so this proved nothing:\n${log}`);
  }
}

async function main() {
  base = await freeBlock();
  console.log(`${N} nodes on 127.0.0.1:${base}..${base + N - 1} in ${tmp}`);
  await checkBadPasswords();
  await checkStopWhileResolving();

  for (let i = 0; i < N; i++) { prepareNode(i, password); startNode(i); }
  for (let i = 0; i < N; i++) {
    if (!(await until(`${nodeName(i)} answers PING`, 30000, () => cli(base + i, ['ping']).trim() === 'PONG'))) return;
  }
  if (!/NOAUTH/.test(cli(base, ['get', 'x'], { auth: false }))) fail('a command without the password was not refused with NOAUTH');
  const config = cli(base, ['config', 'get', '*']).replace(/\r/g, '').split('\n');
  const conf = new Map();
  for (let k = 0; k + 1 < config.length; k += 2) conf.set(config[k], config[k + 1]);
  for (const [k, v] of [['appendonly', 'yes'], ['appendfsync', 'always'], ['cluster-enabled', 'yes'],
    ['maxmemory-policy', 'noeviction'], ['cluster-preferred-endpoint-type', 'hostname'],
    ['shutdown-on-sigterm', 'force']]) {
    if (conf.get(k) !== v) fail(`CONFIG GET ${k}: want ${v}, have ${conf.get(k)}`);
  }
  if (conf.get('requirepass') !== password || conf.get('masterauth') !== password) fail('requirepass/masterauth are not the Secret\'s password');
  for (let i = 0; i < N; i++) {
    for (const kind of ['liveness', 'readiness']) {
      const p = probe(i, kind);
      if (!p.ok) fail(`${kind} probe of ${nodeName(i)} alone: ${p.out}`);
    }
  }

  // The Job forms the cluster.
  const first = runJob();
  if (first.status !== 0) { fail(`create Job: exit ${first.status}:\n${first.out}`); return; }
  // Roles reach every node's view by gossip within a few seconds of the Job's end.
  let nodes = [];
  const shape = () => {
    nodes = clusterNodes(base);
    const masters = nodes.filter((n) => n.flags.includes('master') && n.slots.length > 0);
    const replicas = nodes.filter((n) => n.flags.includes('slave'));
    return nodes.length === N && masters.length === N / 2 && replicas.length === N / 2 &&
      new Set(replicas.map((r) => r.master)).size === masters.length &&
      replicas.every((r) => masters.some((m) => m.id === r.master));
  };
  if (!(await until(`after the Job: ${N / 2} masters with slots, each with one replica`, 30000, shape))) return;
  for (let i = 0; i < N; i++) {
    if (!(await until(`${nodeName(i)} readiness probe after the Job`, 60000, () => probe(i, 'readiness').ok))) return;
  }
  const info = cli(base, ['cluster', 'info']);
  if (field(info, 'cluster_slots_ok') !== '16384') fail(`cluster_slots_ok ${field(info, 'cluster_slots_ok')}`);
  // What countd's --redis-wait-replicas=1 asks of every write: one replica acknowledges it.
  const acked = cli(base, ['-c'], { input: 'SET countd-deploy-check 42\nWAIT 1 5000\n' }).trim().split('\n');
  if (acked[0] !== 'OK' || acked[1] !== '1') fail(`SET + WAIT 1: want OK and 1, have ${JSON.stringify(acked)}`);

  // Again: nothing to do, nothing changed.
  const epoch = field(cli(base, ['cluster', 'info']), 'cluster_current_epoch');
  const again = runJob();
  if (again.status !== 0 || !/nothing to do/.test(again.out)) fail(`create Job run again: exit ${again.status}:\n${again.out}`);
  const after = clusterNodes(base);
  if (after.map((n) => n.id).sort().join() !== nodes.map((n) => n.id).sort().join() ||
      field(cli(base, ['cluster', 'info']), 'cluster_current_epoch') !== epoch) {
    fail('the second Job run changed the cluster');
  }

  // Every pod restarted on a new IP: stale addresses in every nodes.conf.
  await until('every node knows every other node\'s announced name', 30000, () => clusterNodes(base).every((n) => n.addr.includes(',')));
  await checkStopWhileWritingFirstAof();
  for (let i = 0; i < N; i++) await stopNode(i);
  for (let i = 0; i < N; i++) {
    const file = path.join(localPath(nodeEnv[i].REDIS_DATA_DIR, nodeMounts[i]), 'nodes.conf');
    const text = fs.readFileSync(file, 'utf8');
    if (!/ 127\.0\.0\.1:\d+@\d+,127\.0\.0\.1 /.test(text)) fail(`${nodeName(i)} nodes.conf has no peer with its announced name:\n${text}`);
    fs.writeFileSync(file, text.replace(/ 127\.0\.0\.1:(\d+@\d+)/g, ' 127.0.0.9:$1'));
  }
  for (let i = 0; i < N; i++) startNode(i);
  // cluster_state alone is not enough: a node that reaches no one still says ok until
  // cluster-node-timeout passes. Every node must see every other one connected and healthy.
  const healthy = (i) => {
    const view = clusterNodes(base + i);
    return field(cli(base + i, ['cluster', 'info']), 'cluster_state') === 'ok' && view.length === N &&
      view.every((n) => n.link === 'connected' && !n.flags.some((f) => f.startsWith('fail')) &&
        n.addr.startsWith('127.0.0.1:'));
  };
  for (let i = 0; i < N; i++) {
    if (!(await until(`${nodeName(i)} sees all ${N} nodes connected after a restart on stale addresses`,
      60000, () => healthy(i)))) return;
  }
  for (let i = 0; i < N; i++) {
    if (!(await until(`${nodeName(i)} readiness probe after the restart`, 60000, () => probe(i, 'readiness').ok))) return;
  }
  const kept = cli(base, ['-c', 'get', 'countd-deploy-check']).trim();
  if (kept !== '42') fail(`the acknowledged write after the restart: want 42, have ${kept}`);

  // A node that lost its volume: the Job must refuse and leave the cluster alone.
  const lost = N - 1;
  await stopNode(lost);
  const data = localPath(nodeEnv[lost].REDIS_DATA_DIR, nodeMounts[lost]);
  fs.rmSync(data, { recursive: true, force: true });
  fs.mkdirSync(data);
  startNode(lost);
  await until(`${nodeName(lost)} answers PING with an empty volume`, 30000, () => cli(base + lost, ['ping']).trim() === 'PONG');
  const before = clusterNodes(base).map((n) => n.id).sort().join();
  const refused = runJob();
  if (refused.status === 0) fail(`create Job with a node that lost its volume: exit 0:\n${refused.out}`);
  else if (!refused.out.includes(`127.0.0.1:${base + lost}: known_nodes=1`)) fail(`create Job did not name the empty node:\n${refused.out}`);
  if (clusterNodes(base).map((n) => n.id).sort().join() !== before) fail('the refused Job run changed the cluster');
  if (field(cli(base + lost, ['cluster', 'info']), 'cluster_known_nodes') !== '1') fail('the empty node was joined to the cluster');
}

main()
  .catch((e) => fail(e.stack || String(e)))
  .finally(async () => {
    for (const i of children.keys()) await stopNode(i);
    if (errors.length) {
      for (const f of fs.readdirSync(tmp).filter((n) => n.endsWith('.log'))) {
        console.log(`--- ${f}\n${fs.readFileSync(path.join(tmp, f), 'utf8').split('\n').slice(-15).join('\n')}`);
      }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
    console.log(errors.length ? `${errors.length} failure(s)` : 'ok');
    process.exit(errors.length ? 1 : 0);
  });
