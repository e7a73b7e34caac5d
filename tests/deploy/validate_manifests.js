#!/usr/bin/env node
// tests/deploy/validate_manifests.js — CTest deploy.k8s_schema: validates every object of each
// kustomization directory against the Kubernetes API schemas of `kubernetes-models` and checks
// what a schema cannot see (selectors, names, ports, probes, security settings, shutdown timing,
// where credentials come from, how countd's store matches its workload).
//   node validate_manifests.js [--countd BIN] DIR...
// With --countd, every COUNTD_* variable of the ConfigMap and every container arg must be a flag
// `countd --helpfull` lists. When a kubectl >= 1.21 is installed, `kubectl kustomize DIR` must
// produce the same objects as render.js (the renderer the tests use).
// Each directory holds exactly one countd workload (a pod template with a container `countd`):
//   --store=rocksdb (default): a StatefulSet whose /data is a volumeClaimTemplate, readiness by the
//     gRPC health check, no HorizontalPodAutoscaler (more pods would be separate databases);
//   --store=redis-cluster: a Deployment without any persistent volume, readiness GET /readyz (the
//     gRPC health service does not see the cluster), --redis-wait-replicas >= 1, the Redis
//     password a file of a read-only Secret mount, scaled by a CPU HorizontalPodAutoscaler.
// A Redis Cluster StatefulSet (container `redis`) in the same directory is checked against the
// countd args (seed names, password Secret, replicas) and its create Job; what it does when run is
// tested by check_redis_cluster.js.
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

// "--redis-nodes=a,b" -> ["redis-nodes", "a,b"]; underscores as dashes.
function parseArgs(args) {
  return new Map((args || []).map((a) => {
    const [name, ...value] = a.replace(/^--/, '').split('=');
    return [name.replace(/_/g, '-'), value.join('=')];
  }));
}

const subset = (sel, labels) => Object.entries(sel || {}).every(([k, v]) => (labels || {})[k] === v);
const podSpecOf = (o) => (o.kind === 'Job' || o.kind === 'StatefulSet' || o.kind === 'Deployment' ? o.spec.template.spec : null);
const id = (o) => `${o.kind}/${o.metadata.name}`;

// `file` must be in a read-only mount of a Secret volume whose items (if listed) provide it.
// Returns the Secret's name, or null after reporting why not.
function secretFileSource(cid, what, file, c, volumes, fail) {
  const mount = (c.volumeMounts || []).find((m) => file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`));
  if (!mount) { fail(`${cid}: ${what}=${file} is in no volumeMount`); return null; }
  if (mount.readOnly !== true) fail(`${cid}: the mount of ${what} (${mount.mountPath}) must be readOnly`);
  const volume = volumes.get(mount.name);
  if (!volume || !volume.secret) { fail(`${cid}: ${what} must come from a Secret volume, not ${JSON.stringify(volume)}`); return null; }
  const rel = file.slice(mount.mountPath.replace(/\/$/, '').length + 1);
  const items = volume.secret.items;
  if (items && !items.some((i) => i.path === rel)) fail(`${cid}: Secret volume ${mount.name} has no item for ${rel}`);
  return volume.secret.secretName;
}

// Security settings every pod here shares: non-root `uid` (and fsGroup, for the Secret files and
// volumes), RuntimeDefault seccomp; per container a read-only root, no privilege escalation, no
// capabilities, a memory request and limit. Secrets never reach the environment.
function checkPodSecurity(oid, ps, uid, fail) {
  const psc = ps.securityContext || {};
  if (psc.runAsNonRoot !== true || psc.runAsUser !== uid || psc.fsGroup !== uid) fail(`${oid}: pod must run as non-root uid ${uid} with fsGroup ${uid}`);
  if (!psc.seccompProfile || psc.seccompProfile.type !== 'RuntimeDefault') fail(`${oid}: seccompProfile must be RuntimeDefault`);
  if (ps.automountServiceAccountToken !== false) fail(`${oid}: automountServiceAccountToken must be false (no API access needed)`);
  for (const c of [...(ps.containers || []), ...(ps.initContainers || [])]) {
    const cid = `${oid} container ${c.name}`;
    const sc = c.securityContext || {};
    if (sc.readOnlyRootFilesystem !== true) fail(`${cid}: readOnlyRootFilesystem must be true`);
    if (sc.allowPrivilegeEscalation !== false) fail(`${cid}: allowPrivilegeEscalation must be false`);
    if (!sc.capabilities || !(sc.capabilities.drop || []).includes('ALL')) fail(`${cid}: capabilities must drop ALL`);
    if (!c.resources || !c.resources.limits || !c.resources.limits.memory) fail(`${cid}: no memory limit`);
    if (!c.resources || !c.resources.requests || !c.resources.requests.memory) fail(`${cid}: no memory request`);
    for (const e of c.env || []) {
      if (e.valueFrom && e.valueFrom.secretKeyRef) fail(`${cid}: env ${e.name} reads a Secret; mount it as a file instead`);
    }
    for (const ef of c.envFrom || []) {
      if (ef.secretRef) fail(`${cid}: envFrom a Secret; mount it as a file instead`);
    }
  }
}

function checkProbePorts(cid, c, fail) {
  const ports = new Map((c.ports || []).map((p) => [p.name, p.containerPort]));
  const portNumbers = new Set(ports.values());
  const resolve = (p) => (typeof p === 'number' ? p : ports.get(p));
  for (const probe of ['livenessProbe', 'readinessProbe']) {
    const p = c[probe];
    if (!p) { fail(`${cid}: no ${probe}`); continue; }
    if (p.exec) continue;
    const action = p.httpGet || p.grpc || p.tcpSocket;
    if (!action || !portNumbers.has(resolve(action.port))) fail(`${cid}: ${probe} port ${action && action.port} is not a container port`);
  }
  if (c.startupProbe) {
    const action = c.startupProbe.httpGet || c.startupProbe.grpc || c.startupProbe.tcpSocket;
    if (action && !portNumbers.has(resolve(action.port))) fail(`${cid}: startupProbe port ${action.port} is not a container port`);
  }
}

// Seconds a preStop hook holds the container before SIGTERM: `exec: [sleep, N]` or `sleep:`.
function preStopSeconds(cid, c, fail) {
  const h = c.lifecycle && c.lifecycle.preStop;
  if (!h) return 0;
  if (h.sleep) return Number(h.sleep.seconds);
  const cmd = h.exec && h.exec.command;
  if (cmd && cmd.length === 2 && cmd[0] === 'sleep' && /^\d+$/.test(String(cmd[1]))) return Number(cmd[1]);
  fail(`${cid}: preStop must be a plain sleep (exec [sleep, N] or sleep.seconds), not ${JSON.stringify(h)}`);
  return 0;
}

function checkCountd(w, objects, flags, fail) {
  const wid = id(w);
  const ps = w.spec.template.spec;
  const labels = w.spec.template.metadata.labels;
  if (!subset(w.spec.selector.matchLabels, labels)) fail(`${wid}: selector does not match the template labels`);
  checkPodSecurity(wid, ps, 10001, fail);
  const volumes = new Map((ps.volumes || []).map((v) => [v.name, v]));
  const claims = new Set((w.spec.volumeClaimTemplates || []).map((c) => c.metadata.name));
  const get = (k, n) => objects.find((o) => o.kind === k && o.metadata.name === n);
  const c = ps.containers.find((x) => x.name === 'countd');
  const cid = `${wid} container countd`;
  const args = parseArgs(c.args);
  const store = args.get('store') || 'rocksdb';
  const hpas = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler' &&
    o.spec.scaleTargetRef.kind === w.kind && o.spec.scaleTargetRef.name === w.metadata.name);
  checkProbePorts(cid, c, fail);
  if (!c.startupProbe) fail(`${cid}: no startupProbe`);

  const mounts = new Map((c.volumeMounts || []).map((m) => [m.mountPath, m.name]));
  for (const [mp, name] of mounts) {
    if (!volumes.has(name) && !claims.has(name)) fail(`${cid}: volumeMount ${name} (${mp}) has no volume`);
  }
  const tmp = volumes.get(mounts.get('/tmp'));
  if (!tmp || !tmp.emptyDir) fail(`${cid}: /tmp must be an emptyDir (the root filesystem is read-only)`);

  if (store === 'rocksdb') {
    if (w.kind !== 'StatefulSet') fail(`${wid}: --store=rocksdb keeps its data on the pod: it must be a StatefulSet`);
    if (w.kind === 'StatefulSet') {
      const headless = get('Service', w.spec.serviceName);
      if (!headless || headless.spec.clusterIP !== 'None') fail(`${wid}: serviceName ${w.spec.serviceName} is not a headless Service here`);
    }
    if (!claims.has(mounts.get('/data'))) fail(`${cid}: /data must be a volumeClaimTemplate`);
    if (!c.readinessProbe || !c.readinessProbe.grpc) fail(`${cid}: readinessProbe must be the gRPC health check`);
    if (hpas.length) fail(`${wid}: an autoscaled --store=rocksdb workload would be separate databases`);
  } else if (store === 'redis-cluster') {
    if (w.kind !== 'Deployment') fail(`${wid}: --store=redis-cluster pods are stateless: want a Deployment, not a ${w.kind}`);
    if (w.spec.volumeClaimTemplates) fail(`${wid}: stateless pods need no volumeClaimTemplates`);
    for (const v of ps.volumes || []) {
      if (v.persistentVolumeClaim || v.hostPath || v.ephemeral) fail(`${wid}: volume ${v.name} keeps state; stateless pods may mount only emptyDir, Secret and ConfigMap volumes`);
    }
    if (args.has('data-dir')) fail(`${cid}: --data-dir means nothing with --store=redis-cluster`);
    const rp = c.readinessProbe || {};
    if (!rp.httpGet || rp.httpGet.path !== '/readyz') fail(`${cid}: readinessProbe must be GET /readyz (the gRPC health service does not reflect the cluster)`);
    if (!args.get('redis-nodes')) fail(`${cid}: --store=redis-cluster needs --redis-nodes`);
    const replicasPerMaster = Number(args.get('redis-wait-replicas') || 0);
    if (!(replicasPerMaster >= 1)) fail(`${cid}: --redis-wait-replicas must be at least 1 (a failover must lose no acknowledged write)`);
    const pw = args.get('redis-password-file');
    if (!pw) fail(`${cid}: --store=redis-cluster needs --redis-password-file`);
    const secret = pw ? secretFileSource(cid, '--redis-password-file', pw, c, volumes, fail) : null;
    checkRedisSeeds(cid, args.get('redis-nodes') || '', replicasPerMaster, secret, objects, fail);
    if (w.spec.replicas !== undefined && hpas.length) fail(`${wid}: spec.replicas is set although HorizontalPodAutoscaler/${hpas[0].metadata.name} owns the count (every apply would reset it)`);
    if (hpas.length !== 1) fail(`${wid}: want one HorizontalPodAutoscaler targeting it, found ${hpas.length}`);
  } else {
    fail(`${cid}: --store=${store} is neither rocksdb nor redis-cluster`);
  }
  for (const hpa of hpas) checkHpa(hpa, w, fail);
  if (!objects.some((o) => o.kind === 'PodDisruptionBudget' && subset(o.spec.selector.matchLabels, labels))) {
    fail(`${wid}: no PodDisruptionBudget selects its pods`);
  }

  const cm = new Map();
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
  for (const k of cm.keys()) {
    if (!k.startsWith('COUNTD_')) fail(`${wid}: ConfigMap key ${k} is not a COUNTD_ variable`);
    else if (flags && !flags.has(k.slice(7).toLowerCase())) fail(`${wid}: ${k} names no countd flag`);
  }
  if (cm.has('COUNTD_STORE') || cm.has('COUNTD_REDIS_PASSWORD_FILE')) fail(`${wid}: the store and its password file belong in the args, where the checks see them`);

  // Authentication: --auth=required with both credential files from read-only Secret mounts.
  if (args.get('auth') !== 'required') fail(`${cid}: args must set --auth=required`);
  for (const flag of ['operator-token-file', 'secrets-key-file']) {
    const file = args.get(flag);
    if (!file) fail(`${cid}: --auth=required needs --${flag}`);
    else secretFileSource(cid, `--${flag}`, file, c, volumes, fail);
  }

  // countd waits out preStop, drains for --grace-period, gRPC's shutdown may add ~5 s, then the
  // store closes.
  const grace = durationSeconds(cm.get('COUNTD_GRACE_PERIOD') || '10s');
  const preStop = preStopSeconds(cid, c, fail);
  if (!(ps.terminationGracePeriodSeconds >= preStop + grace + 5 + 3)) {
    fail(`${wid}: terminationGracePeriodSeconds ${ps.terminationGracePeriodSeconds} leaves no margin over preStop ${preStop}s + grace period ${grace}s + ~5 s drain`);
  }
}

// The HorizontalPodAutoscaler of countd's Deployment: CPU utilization of requested CPU, at least
// two replicas, and a scale-down window against flapping.
function checkHpa(hpa, w, fail) {
  const hid = id(hpa);
  const s = hpa.spec;
  if (s.scaleTargetRef.apiVersion !== w.apiVersion) fail(`${hid}: scaleTargetRef.apiVersion ${s.scaleTargetRef.apiVersion} is not ${w.apiVersion}`);
  if (!(s.minReplicas >= 2)) fail(`${hid}: minReplicas ${s.minReplicas} leaves a single point of failure (want >= 2)`);
  if (!(s.maxReplicas > s.minReplicas)) fail(`${hid}: maxReplicas ${s.maxReplicas} must exceed minReplicas ${s.minReplicas}`);
  const cpu = (s.metrics || []).find((m) => m.type === 'Resource' && m.resource.name === 'cpu');
  if (!cpu || cpu.resource.target.type !== 'Utilization' || !(cpu.resource.target.averageUtilization > 0 && cpu.resource.target.averageUtilization <= 90)) {
    fail(`${hid}: want a cpu Utilization target in 1..90%`);
  }
  for (const c of w.spec.template.spec.containers) {
    if (!c.resources || !c.resources.requests || !c.resources.requests.cpu) fail(`${hid}: container ${c.name} of ${id(w)} has no cpu request, so utilization is undefined`);
  }
  const down = (s.behavior || {}).scaleDown || {};
  if (!(down.stabilizationWindowSeconds >= 60)) fail(`${hid}: scaleDown.stabilizationWindowSeconds must be >= 60 against flapping`);
  if (!(down.policies || []).length) fail(`${hid}: scaleDown needs a rate policy`);
}

// --redis-nodes against a Redis Cluster StatefulSet rendered here: every seed is one of its pods
// by stable name and port, the password Secret is the nodes', and --redis-wait-replicas does not
// exceed the replicas per master the create Job makes (else every write would fail).
function checkRedisSeeds(cid, nodes, waitReplicas, secret, objects, fail) {
  const redis = objects.find((o) => o.kind === 'StatefulSet' && o.spec.template.spec.containers.some((c) => c.name === 'redis'));
  if (!redis) return;  // a cluster of the operator's own: nothing to compare
  const rc = redis.spec.template.spec.containers.find((c) => c.name === 'redis');
  const port = (rc.ports || []).find((p) => p.name === 'redis');
  const want = new Set();
  for (let i = 0; i < redis.spec.replicas; i++) want.add(`${redis.metadata.name}-${i}.${redis.spec.serviceName}:${port && port.containerPort}`);
  for (const seed of nodes.split(',')) {
    if (!want.has(seed)) fail(`${cid}: --redis-nodes seed ${seed} is not a pod of StatefulSet/${redis.metadata.name} (${[...want].join(', ')})`);
  }
  const env = new Map((rc.env || []).map((e) => [e.name, e.value]));
  const vols = new Map((redis.spec.template.spec.volumes || []).map((v) => [v.name, v]));
  const redisSecret = secretFileSource(`StatefulSet/${redis.metadata.name} container redis`, 'REDIS_PASSWORD_FILE',
    env.get('REDIS_PASSWORD_FILE') || '', rc, vols, fail);
  if (secret && redisSecret && secret !== redisSecret) fail(`${cid}: --redis-password-file comes from Secret ${secret}, the nodes' password from ${redisSecret}`);
  const job = objects.find((o) => o.kind === 'Job' && o.spec.template.spec.containers.some((c) => (c.env || []).some((e) => e.name === 'REDIS_CLUSTER_REPLICAS')));
  const perMaster = job && Number(job.spec.template.spec.containers[0].env.find((e) => e.name === 'REDIS_CLUSTER_REPLICAS').value);
  if (job && waitReplicas > perMaster) fail(`${cid}: --redis-wait-replicas=${waitReplicas} exceeds the ${perMaster} replica(s) per master of Job/${job.metadata.name}`);
}

// A Redis Cluster StatefulSet (container `redis`, started by start.sh of its ConfigMap) and the Job
// that creates the cluster: persistence, durability settings, the password only in a Secret file,
// one create Job naming every pod.
function checkRedisCluster(sts, objects, fail) {
  const sid = id(sts);
  const ps = sts.spec.template.spec;
  const get = (k, n) => objects.find((o) => o.kind === k && o.metadata.name === n);
  if (!subset(sts.spec.selector.matchLabels, sts.spec.template.metadata.labels)) fail(`${sid}: selector does not match the template labels`);
  checkPodSecurity(sid, ps, 999, fail);
  const headless = get('Service', sts.spec.serviceName);
  if (!headless || headless.spec.clusterIP !== 'None') fail(`${sid}: serviceName ${sts.spec.serviceName} is not a headless Service here`);
  else if (headless.spec.publishNotReadyAddresses !== true) fail(`Service/${headless.metadata.name}: publishNotReadyAddresses must be true (nodes must find each other before the cluster is ok)`);
  if (sts.spec.podManagementPolicy !== 'Parallel') fail(`${sid}: podManagementPolicy must be Parallel (readiness needs the cluster; OrderedReady would deadlock a full restart)`);
  const c = ps.containers.find((x) => x.name === 'redis');
  const cid = `${sid} container redis`;
  checkProbePorts(cid, c, fail);
  const volumes = new Map((ps.volumes || []).map((v) => [v.name, v]));
  const claims = new Set((sts.spec.volumeClaimTemplates || []).map((v) => v.metadata.name));
  const env = new Map((c.env || []).map((e) => [e.name, e.value]));
  const mounts = c.volumeMounts || [];
  const mountOf = (file) => mounts.find((m) => String(file).startsWith(`${m.mountPath}/`) || file === m.mountPath);
  const dataMount = mountOf(env.get('REDIS_DATA_DIR'));
  if (!dataMount || !claims.has(dataMount.name)) fail(`${cid}: REDIS_DATA_DIR ${env.get('REDIS_DATA_DIR')} must be a volumeClaimTemplate (AOF and nodes.conf persist)`);
  const runMount = mountOf(env.get('REDIS_RUN_DIR'));
  const run = runMount && volumes.get(runMount.name);
  if (!run || !run.emptyDir || run.emptyDir.medium !== 'Memory') fail(`${cid}: REDIS_RUN_DIR (the generated config with the password) must be an in-memory emptyDir`);
  secretFileSource(cid, 'REDIS_PASSWORD_FILE', env.get('REDIS_PASSWORD_FILE') || '', c, volumes, fail);

  // redis.conf: the ConfigMap item mounted where REDIS_CONF points.
  const confMount = mountOf(env.get('REDIS_CONF'));
  const confVol = confMount && volumes.get(confMount.name);
  const cm = confVol && confVol.configMap && get('ConfigMap', confVol.configMap.name);
  if (!cm) { fail(`${cid}: REDIS_CONF ${env.get('REDIS_CONF')} is in no ConfigMap volume here`); return; }
  const rel = env.get('REDIS_CONF').slice(confMount.mountPath.length + 1);
  const item = (confVol.configMap.items || []).find((i) => i.path === rel);
  const conf = cm.data[item ? item.key : rel] || '';
  const directives = new Map(conf.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((l) => { const [k, ...v] = l.split(/\s+/); return [k.toLowerCase(), v.join(' ')]; }));
  for (const [k, v] of [['cluster-enabled', 'yes'], ['appendonly', 'yes'], ['appendfsync', 'always'], ['maxmemory-policy', 'noeviction']]) {
    if (directives.get(k) !== v) fail(`ConfigMap/${cm.metadata.name} ${rel}: want "${k} ${v}", have "${k} ${directives.get(k)}"`);
  }
  for (const k of ['requirepass', 'masterauth']) {
    if (directives.has(k)) fail(`ConfigMap/${cm.metadata.name} ${rel}: ${k} must come from the Secret (start.sh), not a ConfigMap`);
  }
  const script = c.command && c.command.join(' ');
  if (!/^sh \/\S+\/start\.sh$/.test(script || '')) fail(`${cid}: command must be sh .../start.sh (the tested start script), not ${script}`);

  // The create Job: every pod by stable name, 1 replica per master, 3 masters at least.
  const jobs = objects.filter((o) => o.kind === 'Job');
  if (jobs.length !== 1) { fail(`${sid}: want one Job that creates the cluster, found ${jobs.length}`); return; }
  const job = jobs[0];
  const jid = id(job);
  checkPodSecurity(jid, job.spec.template.spec, 999, fail);
  const jc = job.spec.template.spec.containers[0];
  const jenv = new Map((jc.env || []).map((e) => [e.name, e.value]));
  const port = (c.ports || []).find((p) => p.name === 'redis');
  const want = Array.from({ length: sts.spec.replicas }, (_, i) => `${sts.metadata.name}-${i}.${sts.spec.serviceName}:${port && port.containerPort}`);
  const have = String(jenv.get('REDIS_CLUSTER_NODES') || '').split(/\s+/).filter(Boolean);
  if (have.join(' ') !== want.join(' ')) fail(`${jid}: REDIS_CLUSTER_NODES must list every pod in order: want "${want.join(' ')}", have "${have.join(' ')}"`);
  const perMaster = Number(jenv.get('REDIS_CLUSTER_REPLICAS'));
  if (perMaster !== 1) fail(`${jid}: REDIS_CLUSTER_REPLICAS must be 1 (--cluster-replicas 1), have ${jenv.get('REDIS_CLUSTER_REPLICAS')}`);
  if (sts.spec.replicas % (perMaster + 1) !== 0 || sts.spec.replicas / (perMaster + 1) < 3) {
    fail(`${sid}: ${sts.spec.replicas} nodes cannot be >= 3 masters with ${perMaster} replica(s) each`);
  }
  if (!/^sh \/\S+\/create\.sh$/.test((jc.command || []).join(' '))) fail(`${jid}: command must be sh .../create.sh`);
  const jvols = new Map((job.spec.template.spec.volumes || []).map((v) => [v.name, v]));
  const js = secretFileSource(`${jid} container ${jc.name}`, 'REDIS_PASSWORD_FILE', jenv.get('REDIS_PASSWORD_FILE') || '', jc, jvols, fail);
  const ns = secretFileSource(cid, 'REDIS_PASSWORD_FILE', env.get('REDIS_PASSWORD_FILE') || '', c, volumes, () => {});
  if (js && ns && js !== ns) fail(`${jid}: password Secret ${js} is not the nodes' (${ns})`);
  if (!['Never', 'OnFailure'].includes(job.spec.template.spec.restartPolicy)) fail(`${jid}: restartPolicy must be Never or OnFailure`);
}

function checkDir(dir, flags, errors) {
  const fail = (msg) => errors.push(`${dir}: ${msg}`);
  const objects = render(dir);
  for (const o of objects) {
    const Model = modelFor(o);
    if (!Model) { fail(`${id(o)}: no kubernetes-models class for ${o.apiVersion} ${o.kind}`); continue; }
    try {
      new Model(o).validate();
    } catch (e) {
      fail(`${id(o)}: ${e.message}`);
    }
  }
  for (const o of objects) {
    if (o.kind === 'Secret') fail(`${id(o)} must not be in the manifests (credentials are never committed)`);
  }
  const workloads = objects.filter((o) => ['StatefulSet', 'Deployment'].includes(o.kind));
  const hasContainer = (w, name) => w.spec.template.spec.containers.some((c) => c.name === name);
  const countd = workloads.filter((w) => hasContainer(w, 'countd'));
  if (countd.length !== 1) fail(`want exactly one countd workload (StatefulSet or Deployment), found ${countd.length}`);
  for (const w of countd) checkCountd(w, objects, flags, fail);
  for (const w of workloads.filter((x) => hasContainer(x, 'redis'))) checkRedisCluster(w, objects, fail);
  for (const w of workloads) {
    if (!hasContainer(w, 'countd') && !hasContainer(w, 'redis')) fail(`${id(w)}: neither countd nor a Redis Cluster node; not checked`);
  }
  if (objects.some((o) => o.kind === 'Job') && !workloads.some((w) => hasContainer(w, 'redis'))) fail('a Job without the Redis Cluster it creates');
  for (const hpa of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    const t = hpa.spec.scaleTargetRef;
    if (!workloads.some((w) => w.kind === t.kind && w.metadata.name === t.name)) fail(`${id(hpa)}: scaleTargetRef ${t.kind}/${t.name} is not here`);
    else if (!countd.some((w) => w.kind === t.kind && w.metadata.name === t.name)) fail(`${id(hpa)}: only countd's Deployment may be autoscaled`);
  }

  // Every Service and PodDisruptionBudget selects the pods of exactly one workload; a Service's
  // named targetPorts are ports of that workload's containers.
  const selected = (sel) => workloads.filter((w) => sel && Object.keys(sel).length && subset(sel, w.spec.template.metadata.labels));
  for (const svc of objects.filter((o) => o.kind === 'Service')) {
    const ws = selected(svc.spec.selector);
    if (ws.length !== 1) { fail(`${id(svc)}: selector matches ${ws.length} workloads, want 1`); continue; }
    const names = new Set(ws[0].spec.template.spec.containers.flatMap((c) => (c.ports || []).map((p) => p.name)));
    for (const p of svc.spec.ports) {
      if (typeof p.targetPort === 'string' && !names.has(p.targetPort)) fail(`${id(svc)}: targetPort ${p.targetPort} is no container port of ${id(ws[0])}`);
    }
  }
  for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
    const ws = selected(pdb.spec.selector.matchLabels);
    if (ws.length !== 1) fail(`${id(pdb)}: selector matches ${ws.length} workloads, want 1`);
  }

  const k = kubectlKustomize(dir);
  if (k.skipped) {
    console.log(`${dir}: kubectl cross-check skipped (${k.skipped})`);
  } else {
    const a = new Map(objects.map((o) => [id(o), sortKeys(o)]));
    const b = new Map(k.objects.map((o) => [id(o), sortKeys(o)]));
    for (const oid of new Set([...a.keys(), ...b.keys()])) {
      if (!util.isDeepStrictEqual(a.get(oid), b.get(oid))) {
        fail(`${oid}: render.js and kubectl kustomize differ:\n  render.js: ${JSON.stringify(a.get(oid))}\n  kubectl:   ${JSON.stringify(b.get(oid))}`);
      }
    }
    console.log(`${dir}: kubectl kustomize renders the same ${b.size} objects`);
  }
  console.log(`${dir}: ${objects.length} objects: ${objects.map(id).join(', ')}`);
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

module.exports = { durationSeconds, parseArgs };
if (require.main === module) main();
