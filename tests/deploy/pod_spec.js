#!/usr/bin/env node
// tests/deploy/pod_spec.js — prints what the kubelet would run and probe for the countd container
// of a kustomization directory (its one StatefulSet or Deployment with a container `countd`), one
// item per line, for deploy_probe_test.cc:
//   grace <terminationGracePeriodSeconds>
//   prestop <seconds>                          (a preStop sleep, which the kubelet runs before SIGTERM)
//   arg <container arg>                        (in order)
//   env <NAME>=<value>                         (envFrom ConfigMaps, then env values)
//   probe <startup|liveness|readiness> <http|grpc> <port> <path or -> <timeout> <period> <failures>
// Named probe ports are resolved to numbers. Values containing newlines are refused.
'use strict';
const { render } = require('./render.js');

const dir = process.argv[2];
const objects = render(dir);
const workloads = objects.filter((o) => ['StatefulSet', 'Deployment'].includes(o.kind) &&
  o.spec.template.spec.containers.some((x) => x.name === 'countd'));
if (workloads.length !== 1) throw new Error(`${dir}: want one workload with a countd container, found ${workloads.length}`);
const spec = workloads[0].spec.template.spec;
const c = spec.containers.find((x) => x.name === 'countd');
const out = [];
const line = (...parts) => {
  const s = parts.join(' ');
  if (s.includes('\n')) throw new Error(`newline in ${JSON.stringify(s)}`);
  out.push(s);
};
line('grace', spec.terminationGracePeriodSeconds === undefined ? 30 : spec.terminationGracePeriodSeconds);
const preStop = c.lifecycle && c.lifecycle.preStop;
if (preStop) {
  const cmd = preStop.exec && preStop.exec.command;
  if (preStop.sleep) line('prestop', preStop.sleep.seconds);
  else if (cmd && cmd.length === 2 && cmd[0] === 'sleep' && /^\d+$/.test(String(cmd[1]))) line('prestop', cmd[1]);
  else throw new Error('preStop: only a sleep is supported by the test');
}
for (const a of c.args || []) line('arg', a);
for (const ef of c.envFrom || []) {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === ef.configMapRef.name);
  for (const [k, v] of Object.entries(cm.data || {})) line('env', `${(ef.prefix || '') + k}=${v}`);
}
for (const e of c.env || []) {
  if (e.value === undefined) throw new Error(`env ${e.name}: only plain values are supported`);
  line('env', `${e.name}=${e.value}`);
}
const ports = new Map((c.ports || []).map((p) => [p.name, p.containerPort]));
for (const kind of ['startup', 'liveness', 'readiness']) {
  const p = c[`${kind}Probe`];
  if (!p) continue;
  const defaults = (v, d) => (v === undefined ? d : v);
  const timing = [defaults(p.timeoutSeconds, 1), defaults(p.periodSeconds, 10), defaults(p.failureThreshold, 3)];
  if (p.httpGet) {
    const port = typeof p.httpGet.port === 'number' ? p.httpGet.port : ports.get(p.httpGet.port);
    line('probe', kind, 'http', port, p.httpGet.path || '/', ...timing);
  } else if (p.grpc) {
    if (p.grpc.service) throw new Error('grpc probe with a service name: not supported by the test');
    line('probe', kind, 'grpc', p.grpc.port, '-', ...timing);
  } else {
    throw new Error(`${kind}Probe: only httpGet and grpc probes are supported by the test`);
  }
}
process.stdout.write(out.join('\n') + '\n');
