// tests/deploy/render.js — renders a kustomization directory to a list of objects, for the
// manifest tests on machines without kubectl (Debian 12's kubernetes-client is kubectl 1.20,
// whose built-in kustomize v2.0.3 does not read `patches`). Supports exactly what deploy/k8s
// uses, and refuses anything else so that a new kustomize feature cannot be silently skipped:
//   resources: files (multi-document YAML) and directories holding a kustomization.yaml
//   images:    name -> newName / newTag / digest on the containers of pod templates
//   patches:   `patch:` (inline) or `path:`, selected by `target` (group/version/kind/name) or by
//              the patch's own kind and name; a YAML list is JSON 6902 (add/remove/replace/test),
//              a map is a strategic merge (maps merge, lists of named maps merge by name, other
//              lists are replaced, null deletes; no $patch directives).
'use strict';
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'images', 'patches']);

function loadDocs(file) {
  return YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
      return d.toJS();
    })
    .filter((o) => o != null);
}

function kustomizationFile(dir) {
  for (const n of ['kustomization.yaml', 'kustomization.yml', 'Kustomization']) {
    const f = path.join(dir, n);
    if (fs.existsSync(f)) return f;
  }
  throw new Error(`${dir}: no kustomization.yaml`);
}

function render(dir) {
  const kfile = kustomizationFile(dir);
  const k = loadDocs(kfile)[0] || {};
  for (const key of Object.keys(k)) {
    if (!SUPPORTED.has(key)) throw new Error(`${kfile}: field ${key} is not supported by render.js`);
  }
  let objects = [];
  for (const r of k.resources || []) {
    const p = path.resolve(dir, r);
    objects = objects.concat(fs.statSync(p).isDirectory() ? render(p) : loadDocs(p));
  }
  const seen = new Set();
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata && o.metadata.name}`;
    if (seen.has(id)) throw new Error(`${dir}: ${id} defined twice`);
    seen.add(id);
  }
  for (const img of k.images || []) applyImage(objects, img);
  for (const [i, p] of (k.patches || []).entries()) applyPatch(objects, p, `${kfile} patches[${i}]`, dir);
  return objects;
}

function podSpecs(o) {
  const s = o.spec || {};
  if (o.kind === 'Pod') return [s];
  if (s.template && s.template.spec) return [s.template.spec];
  if (s.jobTemplate) return [s.jobTemplate.spec.template.spec];
  return [];
}

function applyImage(objects, img) {
  for (const o of objects) {
    for (const spec of podSpecs(o)) {
      for (const c of [...(spec.containers || []), ...(spec.initContainers || [])]) {
        const m = /^([^@:]+(?::\d+\/[^@:]+)?)(?::([^@]+))?(?:@(.+))?$/.exec(c.image);
        if (!m || m[1] !== img.name) continue;
        const name = img.newName || m[1];
        if (img.digest) c.image = `${name}@${img.digest}`;
        else if (img.newTag) c.image = `${name}:${img.newTag}`;
        else c.image = name + (m[2] ? `:${m[2]}` : '') + (m[3] ? `@${m[3]}` : '');
      }
    }
  }
}

function matches(o, t) {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  return (t.kind === undefined || t.kind === o.kind) &&
    (t.name === undefined || t.name === o.metadata.name) &&
    (t.group === undefined || t.group === group) &&
    (t.version === undefined || t.version === version);
}

function applyPatch(objects, p, where, dir) {
  for (const key of Object.keys(p)) {
    if (!['patch', 'path', 'target'].includes(key)) throw new Error(`${where}: ${key} not supported`);
  }
  const text = p.patch !== undefined ? p.patch : fs.readFileSync(path.resolve(dir, p.path), 'utf8');
  const body = YAML.parse(text);
  let target = p.target;
  if (!target) {
    if (Array.isArray(body)) throw new Error(`${where}: a JSON 6902 patch needs a target`);
    target = { kind: body.kind, name: body.metadata.name };
  }
  const hits = objects.filter((o) => matches(o, target));
  if (hits.length === 0) throw new Error(`${where}: no resource matches ${JSON.stringify(target)}`);
  for (const o of hits) {
    if (Array.isArray(body)) {
      for (const op of body) json6902(o, op, where);
    } else {
      const merged = strategicMerge(o, body, where);
      for (const k of Object.keys(o)) delete o[k];
      Object.assign(o, merged);
    }
  }
}

function pointer(p, where) {
  if (p === '') return [];
  if (!p.startsWith('/')) throw new Error(`${where}: bad path ${p}`);
  return p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function json6902(doc, op, where) {
  const parts = pointer(op.path, where);
  const last = parts.pop();
  let parent = doc;
  for (const s of parts) {
    parent = Array.isArray(parent) ? parent[Number(s)] : parent[s];
    if (parent === undefined || parent === null || typeof parent !== 'object') {
      throw new Error(`${where}: ${op.op} ${op.path}: ${s} does not exist`);
    }
  }
  const isArr = Array.isArray(parent);
  const idx = isArr ? (last === '-' ? parent.length : Number(last)) : last;
  const exists = isArr ? idx < parent.length : Object.prototype.hasOwnProperty.call(parent, idx);
  const clone = (v) => JSON.parse(JSON.stringify(v));
  switch (op.op) {
    case 'add':
      if (isArr) parent.splice(idx, 0, clone(op.value)); else parent[idx] = clone(op.value);
      break;
    case 'replace':
      if (!exists) throw new Error(`${where}: replace ${op.path}: does not exist`);
      parent[idx] = clone(op.value);
      break;
    case 'remove':
      if (!exists) throw new Error(`${where}: remove ${op.path}: does not exist`);
      if (isArr) parent.splice(idx, 1); else delete parent[idx];
      break;
    case 'test':
      if (JSON.stringify(parent[idx]) !== JSON.stringify(op.value)) {
        throw new Error(`${where}: test ${op.path} failed`);
      }
      break;
    default:
      throw new Error(`${where}: op ${op.op} not supported`);
  }
}

function strategicMerge(base, patch, where) {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  if (base === null || typeof base !== 'object' || Array.isArray(base)) base = {};
  const out = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) throw new Error(`${where}: directive ${k} not supported`);
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v)) {
      const named = v.every((e) => e && typeof e === 'object' && 'name' in e);
      if (named && Array.isArray(base[k])) {
        const list = base[k].map((e) => e);
        for (const e of v) {
          const i = list.findIndex((b) => b && b.name === e.name);
          if (i >= 0) list[i] = strategicMerge(list[i], e, where); else list.push(e);
        }
        out[k] = list;
      } else {
        out[k] = v;
      }
    } else if (typeof v === 'object') {
      out[k] = strategicMerge(base[k], v, where);
    } else {
      out[k] = v;
    }
  }
  return out;
}

module.exports = { render, loadDocs };
