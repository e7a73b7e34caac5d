#!/usr/bin/env python3
"""Checks deploy/Dockerfile against the repository and the real binaries (CTest deploy.dockerfile).

  check_dockerfile.py --repo DIR --dockerfile FILE --countd BIN [--countctl BIN]

Checks, each failure printed on its own line (exit 1 if any):
  * every COPY source of the build context (COPY without --from) exists in the repository;
  * the runtime stage's `apt-get install` packages ship every shared library `ldd` lists for the
    binaries (dpkg -L of each named package), and every named package ships at least one of them.
    libc6, libstdc++6 and libgcc-s1 (libc, libm, libpthread, libdl, librt, ld-linux, libstdc++,
    libgcc_s) are in debian:12-slim already and are not required in the list;
  * the binaries copied from the build stage land where ENTRYPOINT points;
  * every --flag of ENTRYPOINT/CMD is a flag `countd --help` lists;
  * EXPOSE lists exactly the ports of --grpc-addr and --http-addr in CMD; VOLUME holds --data-dir;
  * USER is numeric and not root; STOPSIGNAL is SIGTERM.
Needs python3 (standard library), ldd and dpkg: run on the Debian 12 machine that built the binary.
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys

# Libraries of the base image (libc6, libstdc++6, libgcc-s1) and the kernel's vDSO.
BASE_LIBS = re.compile(
    r"^(linux-vdso|ld-linux[-a-z0-9_]*|libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s)\.so")


def parse_dockerfile(path):
    """Returns a list of stages: {'name', 'base', 'instructions': [(KEYWORD, args)]}."""
    lines, cur = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not cur and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if cur and line.lstrip().startswith("#"):
                continue  # comment inside a continued instruction
            if line.endswith("\\"):
                cur += line[:-1] + " "
                continue
            lines.append(cur + line)
            cur = ""
    if cur:
        lines.append(cur)
    stages = []
    for line in lines:
        keyword, _, args = line.strip().partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append({"name": name, "base": words[0], "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((keyword, args))
    return stages


def exec_form(args):
    """ENTRYPOINT/CMD arguments: the JSON exec form as a list, the shell form split by shlex."""
    if args.startswith("["):
        return json.loads(args)
    return shlex.split(args)


def copy_parts(args):
    """COPY arguments -> (options dict, sources, destination)."""
    words = exec_form(args) if args.startswith("[") else args.split()
    opts = {}
    while words and words[0].startswith("--"):
        k, _, v = words.pop(0)[2:].partition("=")
        opts[k] = v
    return opts, words[:-1], words[-1]


def apt_packages(stage):
    pkgs = []
    for keyword, args in stage["instructions"]:
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", args):
            words = command.split()
            if "apt-get" in words and "install" in words:
                for w in words[words.index("install") + 1:]:
                    if not w.startswith("-"):
                        pkgs.append(w.split("=")[0])
    return pkgs


def ldd_libs(binary):
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    libs = {}
    for line in out.splitlines():
        line = line.strip()
        m = re.match(r"^(\S+) => (\S+)", line)
        if m:
            if m.group(2) == "not":
                raise SystemExit(f"ldd {binary}: {line}")
            libs[m.group(1)] = m.group(2)
        elif line:
            name = line.split()[0]
            libs[os.path.basename(name)] = name
    return libs


def package_files(pkg):
    r = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return {os.path.basename(p) for p in r.stdout.split()}


def owner_of(path):
    """The package that ships `path`, trying the usrmerge aliases (/lib vs /usr/lib)."""
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/usr/"):
            candidates.append(p[4:])
        else:
            candidates.append("/usr" + p)
    for p in candidates:
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    return "?"


def countd_flags(countd):
    """Flag names (underscored) that `countd --help` lists; --helpfull if --help lists none."""
    names = set()
    for option in ("--help", "--helpfull"):
        r = subprocess.run([countd, option], capture_output=True, text=True)
        names = set(re.findall(r"^\s+--([A-Za-z0-9_]+) \(", r.stdout + r.stderr, re.M))
        if names:
            if option != "--help":
                print(f"note: `countd --help` lists no flags; used {option}")
            return names
    raise SystemExit("countd --help/--helpfull listed no flags")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--dockerfile", required=True)
    ap.add_argument("--countd", required=True)
    ap.add_argument("--countctl")
    a = ap.parse_args()
    errors = []
    stages = parse_dockerfile(a.dockerfile)
    if len(stages) < 2:
        errors.append(f"want a multi-stage build, got {len(stages)} stage(s)")
    runtime = stages[-1]
    if not re.match(r"^(docker\.io/(library/)?)?debian:12-slim(@.*)?$", runtime["base"]):
        errors.append(f"runtime stage is FROM {runtime['base']}, want debian:12-slim")
    for s in stages[:-1]:
        if not re.match(r"^(docker\.io/(library/)?)?debian:(12|bookworm)(@.*)?$", s["base"]):
            errors.append(f"stage {s['name']} is FROM {s['base']}, want debian:12")

    # COPY sources from the build context; binaries copied into the runtime stage.
    installed = {}  # destination path in the runtime image -> source path
    for s in stages:
        for keyword, args in s["instructions"]:
            if keyword not in ("COPY", "ADD"):
                continue
            opts, sources, dest = copy_parts(args)
            if "from" not in opts:
                for src in sources:
                    p = os.path.normpath(os.path.join(a.repo, src))
                    if not os.path.exists(p):
                        errors.append(f"{keyword} {src}: not in the repository ({p})")
            elif s is runtime:
                for src in sources:
                    target = os.path.join(dest, os.path.basename(src)) if dest.endswith("/") else dest
                    installed[target] = src

    entry, cmd, exposed, volumes, user, stopsignal = [], [], set(), [], None, None
    for keyword, args in runtime["instructions"]:
        if keyword == "ENTRYPOINT":
            entry = exec_form(args)
        elif keyword == "CMD":
            cmd = exec_form(args)
        elif keyword == "EXPOSE":
            exposed |= {int(p.split("/")[0]) for p in args.split()}
        elif keyword == "VOLUME":
            volumes += exec_form(args) if args.startswith("[") else args.split()
        elif keyword == "USER":
            user = args
        elif keyword == "STOPSIGNAL":
            stopsignal = args
    if not entry or entry[0] not in installed or not installed[entry[0]].endswith("/countd"):
        errors.append(f"ENTRYPOINT {entry} is not the countd binary copied in ({installed})")

    # Flags of ENTRYPOINT + CMD.
    known = countd_flags(a.countd)
    flags = {}
    for arg in entry[1:] + cmd:
        if not arg.startswith("--"):
            errors.append(f"argument {arg!r} is not a --flag")
            continue
        name, _, value = arg[2:].partition("=")
        name = name.replace("-", "_")
        if name not in known:
            errors.append(f"flag --{name} is not listed by countd --help")
        flags[name] = value
    ports = set()
    for f in ("grpc_addr", "http_addr"):
        if f not in flags:
            errors.append(f"CMD does not set --{f.replace('_', '-')}")
        else:
            ports.add(int(flags[f].rsplit(":", 1)[1]))
    if exposed != ports:
        errors.append(f"EXPOSE {sorted(exposed)} differs from the ports of the flags {sorted(ports)}")
    if flags.get("data_dir") not in volumes:
        errors.append(f"--data-dir={flags.get('data_dir')} is not a VOLUME ({volumes})")
    if user is None or not re.match(r"^[0-9]+(:[0-9]+)?$", user) or user.split(":")[0] == "0":
        errors.append(f"USER {user}: want a numeric non-root uid")
    if stopsignal not in ("SIGTERM", "15"):
        errors.append(f"STOPSIGNAL {stopsignal}: want SIGTERM (countd drains on it)")

    # Shared libraries against the runtime packages.
    pkgs = apt_packages(runtime)
    provided, used = {}, set()
    for p in pkgs:
        files = package_files(p)
        if files is None:
            errors.append(f"package {p} is not installed here: cannot check it (dpkg -L)")
        else:
            provided[p] = files
    for binary in filter(None, [a.countd, a.countctl]):
        for lib, path in sorted(ldd_libs(binary).items()):
            if BASE_LIBS.match(lib):
                continue
            by = [p for p, files in provided.items() if lib in files]
            if by:
                used.update(by)
            else:
                errors.append(f"{os.path.basename(binary)} needs {lib} ({path}), shipped by "
                              f"{owner_of(path)}, which the runtime stage does not install")
    for p in provided:
        if p not in used:
            errors.append(f"runtime package {p} ships none of the binaries' libraries")

    for e in errors:
        print("FAIL:", e)
    if not errors:
        print(f"ok: {len(stages)} stages, {len(pkgs)} runtime packages cover every library; "
              f"flags {sorted(flags)}; ports {sorted(ports)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
