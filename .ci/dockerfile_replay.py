#!/usr/bin/env python3
"""Replays the Dockerfile's build stage on the host, so what would break `docker build` breaks CI.

This machine (and CI) has no Docker engine, so `docker build` cannot run. This script reads the
Dockerfile, follows the stage that builds the binary (`--stage`, default `build`) back through
the stages it is built FROM and the stages it COPYs --from, and for each stage, in Dockerfile
order:

- COPY from the build context copies exactly those files (honouring `.dockerignore` the way
  Docker does for the context) into an empty folder that stands for the stage's filesystem;
  COPY --from=<stage> copies from that stage's replayed folder;
- WORKDIR and ENV are followed (except CARGO_BUILD_TARGET: the host target is used, because the
  musl targets cannot be installed here);
- a RUN that runs cargo is executed whole with the stage's SHELL, in the replayed WORKDIR, with
  `cargo build` turned into `cargo check`, `cargo chef cook` into `cargo chef cook --check`,
  any `--target <triple>` dropped, and absolute paths mapped into the stage's folder;
- every other RUN (apt-get, rustup, copying the built binary) is listed as skipped.

CARGO_TARGET_DIR points at a folder of its own under target/ so repeated runs are warm.
Exit status: 0 when every replayed cargo step succeeded, 1 otherwise (the failing step and its
output are printed), 2 when the Dockerfile uses something this replay does not understand.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


class Unsupported(Exception):
    """The Dockerfile uses an instruction or form the replay cannot reproduce faithfully."""


@dataclass
class Instruction:
    line: int
    keyword: str
    args: str


@dataclass
class Stage:
    name: str
    base: str
    index: int
    instructions: list[Instruction] = field(default_factory=list)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Joins backslash continuations and drops comments, as Docker's parser does."""
    out: list[tuple[int, str]] = []
    buf = ""
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buf):
            continue
        if not buf:
            start = n
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        buf += raw
        out.append((start, buf.strip()))
        buf = ""
    if buf:
        out.append((start, buf.strip()))
    return out


def substitute(text: str, variables: dict[str, str]) -> str:
    """Expands ${VAR}, ${VAR:-default} and $VAR the way Dockerfile instructions do."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        default = m.group(2)
        value = variables.get(name)
        if value is None or value == "":
            return default if default is not None else ""
        return value

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)", repl, text)


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line, content in logical_lines(text):
        keyword, _, args = content.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform=")]
            base = words[0]
            name = str(len(stages))
            if len(words) >= 3 and words[1].upper() == "AS":
                name = words[2]
            stages.append(Stage(name=name, base=base, index=len(stages)))
        elif not stages:
            if keyword != "ARG":
                raise Unsupported(f"Dockerfile:{line}: {keyword} before the first FROM")
            name, _, default = args.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append(Instruction(line, keyword, args))
    return global_args, stages


def host_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )


# --- .dockerignore ---------------------------------------------------------------------------


def ignore_rules(context: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """The .dockerignore patterns as (negated, regex), in file order (the last match wins)."""
    path = context / ".dockerignore"
    rules: list[tuple[bool, re.Pattern[str]]] = []
    if not path.exists():
        return rules
    for raw in path.read_text().splitlines():
        p = raw.strip()
        if not p or p.startswith("#"):
            continue
        negated = p.startswith("!")
        if negated:
            p = p[1:].strip()
        p = os.path.normpath(p.lstrip("/"))
        rules.append((negated, re.compile(glob_to_regex(p))))
    return rules


def glob_to_regex(pattern: str) -> str:
    """Go's filepath.Match plus `**` (any number of directories), as Docker's matcher reads it."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if i < len(pattern) and pattern[i] == "/":
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i)
            if j == -1:
                raise Unsupported(f".dockerignore: unclosed [ in {pattern!r}")
            cls = pattern[i + 1 : j]
            if cls.startswith("!"):
                cls = "^" + cls[1:]
            out.append("[" + cls + "]")
            i = j
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    # A pattern that names a directory excludes everything below it.
    return "^" + "".join(out) + "(?:/.*)?$"


def ignored(rel: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    result = False
    for negated, rx in rules:
        if rx.match(rel):
            result = not negated
    return result


def context_files(context: Path, rules: list[tuple[bool, re.Pattern[str]]]) -> list[str]:
    """Every file Docker would send as the build context, relative, sorted."""
    files: list[str] = []
    for root, dirs, names in os.walk(context):
        rel_root = os.path.relpath(root, context)
        rel_root = "" if rel_root == "." else rel_root
        keep = []
        for d in dirs:
            rel = os.path.join(rel_root, d)
            # A directory can only be skipped whole when no `!` rule could re-include below it.
            if ignored(rel, rules) and not any(neg for neg, _ in rules):
                continue
            keep.append(d)
        dirs[:] = sorted(keep)
        for n in names:
            rel = os.path.join(rel_root, n)
            if not ignored(rel, rules):
                files.append(rel)
    return sorted(files)


# --- the replay ------------------------------------------------------------------------------


class Replay:
    def __init__(self, dockerfile: Path, context: Path, work: Path, target_dir: Path) -> None:
        self.dockerfile = dockerfile
        self.context = context
        self.work = work
        self.target_dir = target_dir
        text = dockerfile.read_text()
        self.global_args, self.stages = parse(text)
        self.global_args.setdefault("TARGETARCH", host_arch())
        self.global_args["TARGETARCH"] = host_arch()
        self.rules = ignore_rules(context)
        self.context_list = context_files(context, self.rules)
        self.done: dict[str, Path] = {}
        self.workdirs: dict[str, str] = {}
        self.envs: dict[str, dict[str, str]] = {}
        self.shells: dict[str, list[str]] = {}
        self.ran_cargo = 0

    def stage(self, ref: str) -> Stage | None:
        for s in self.stages:
            if s.name == ref or str(s.index) == ref:
                return s
        return None

    def root_of(self, name: str) -> Path:
        return self.work / name

    def host_path(self, stage: str, container_path: str, workdir: str) -> Path:
        if not container_path.startswith("/"):
            container_path = os.path.join(workdir, container_path)
        container_path = os.path.normpath(container_path)
        return self.root_of(stage) / container_path.lstrip("/")

    def replay(self, name: str) -> None:
        if name in self.done:
            return
        stage = self.stage(name)
        if stage is None:
            raise Unsupported(f"no stage {name!r} in {self.dockerfile}")
        base = substitute(stage.base, self.global_args)
        root = self.root_of(stage.name)
        if root.exists():
            shutil.rmtree(root)
        parent = self.stage(base)
        if parent is not None:
            self.replay(parent.name)
            shutil.copytree(self.root_of(parent.name), root, symlinks=True)
            workdir = self.workdirs[parent.name]
            env = dict(self.envs[parent.name])
            shell = list(self.shells[parent.name])
            print(f"-- stage {stage.name} (FROM stage {parent.name})")
        else:
            root.mkdir(parents=True)
            workdir = "/"
            env = {}
            shell = ["/bin/sh", "-c"]
            print(f"-- stage {stage.name} (FROM {base}: an empty folder stands for the image)")
        args = dict(self.global_args)
        for ins in stage.instructions:
            where = f"Dockerfile:{ins.line}"
            if ins.keyword == "ARG":
                k, _, v = ins.args.partition("=")
                args[k] = self.global_args.get(k, v) if not v else v
            elif ins.keyword == "ENV":
                for k, v in parse_env(ins.args, {**args, **env}):
                    env[k] = v
            elif ins.keyword == "WORKDIR":
                workdir = os.path.normpath(os.path.join(workdir, substitute(ins.args, {**args, **env})))
                self.host_path(stage.name, workdir, "/").mkdir(parents=True, exist_ok=True)
            elif ins.keyword == "SHELL":
                shell = json_list(ins.args, where)
            elif ins.keyword == "COPY":
                self.copy(stage.name, ins, workdir, {**args, **env})
            elif ins.keyword == "RUN":
                self.run(stage.name, ins, workdir, env, shell)
            elif ins.keyword in ("USER", "ENTRYPOINT", "CMD", "LABEL", "EXPOSE", "VOLUME",
                                 "STOPSIGNAL", "HEALTHCHECK"):
                pass
            else:
                raise Unsupported(f"{where}: {ins.keyword} is not replayed")
        self.done[stage.name] = root
        self.workdirs[stage.name] = workdir
        self.envs[stage.name] = env
        self.shells[stage.name] = shell

    def copy(self, stage: str, ins: Instruction, workdir: str, variables: dict[str, str]) -> None:
        where = f"Dockerfile:{ins.line}"
        words = shlex.split(substitute(ins.args, variables))
        source_stage = None
        rest = []
        for w in words:
            if w.startswith("--from="):
                source_stage = w.split("=", 1)[1]
            elif w.startswith("--link") or w.startswith("--chmod=") or w.startswith("--chown="):
                continue
            elif w.startswith("--"):
                raise Unsupported(f"{where}: COPY option {w} is not replayed")
            else:
                rest.append(w)
        if len(rest) < 2:
            raise Unsupported(f"{where}: COPY needs a source and a destination")
        *sources, dest = rest
        dest_dir_form = dest.endswith("/") or len(sources) > 1
        target = self.host_path(stage, dest, workdir)
        if source_stage is not None:
            src_stage = self.stage(source_stage)
            if src_stage is None:
                raise Unsupported(f"{where}: COPY --from={source_stage} names no stage (an image)")
            self.replay(src_stage.name)
            src_workdir = self.workdirs[src_stage.name]
            for s in sources:
                src = self.host_path(src_stage.name, s, src_workdir)
                if not src.exists():
                    raise ReplayFailure(where, f"COPY --from={source_stage} {s}: not found")
                copy_one(src, target, dest_dir_form)
            print(f"   {where} COPY --from={source_stage} {' '.join(sources)} -> {dest}")
            return
        copied = 0
        for s in sources:
            s_norm = os.path.normpath(s).lstrip("/")
            if s_norm == ".":
                matches = self.context_list
                prefix = ""
            else:
                matches = [f for f in self.context_list if f == s_norm or f.startswith(s_norm + "/")]
                prefix = s_norm
            if not matches:
                raise ReplayFailure(where, f"COPY {s}: not in the build context")
            for f in matches:
                if f == prefix:  # a single file
                    dst = target / os.path.basename(f) if dest_dir_form or target.is_dir() else target
                else:
                    dst = target / os.path.relpath(f, prefix) if prefix else target / f
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(self.context / f, dst)
                copied += 1
        print(f"   {where} COPY {' '.join(sources)} -> {dest} ({copied} files)")

    def run(self, stage: str, ins: Instruction, workdir: str, env: dict[str, str], shell: list[str]) -> None:
        where = f"Dockerfile:{ins.line}"
        command = ins.args
        if command.startswith("--"):
            # RUN --mount=… options: the replay has no cache mounts; the command is what matters.
            while command.startswith("--"):
                _, _, command = command.partition(" ")
                command = command.lstrip()
        if command.startswith("["):
            command = " ".join(shlex.quote(w) for w in json_list(command, where))
        if not re.search(r"(^|[\s;&|(])cargo\s", command):
            print(f"   {where} RUN skipped (no cargo step): {short(command)}")
            return
        root = self.root_of(stage)
        rewritten = rewrite_cargo(command)
        # Absolute paths of the image map into the stage's folder.
        rewritten = re.sub(r"(?<=[\s=>])/(?=[A-Za-z0-9_.-])", str(root) + "/", rewritten)
        run_env = dict(os.environ)
        for k, v in env.items():
            if k == "CARGO_BUILD_TARGET":
                print(f"      (ENV CARGO_BUILD_TARGET={v} not applied: the host target is used)")
                continue
            run_env[k] = v
        run_env["CARGO_TARGET_DIR"] = str(self.target_dir)
        run_env.pop("CARGO_BUILD_TARGET", None)
        cwd = self.host_path(stage, workdir, "/")
        cwd.mkdir(parents=True, exist_ok=True)
        print(f"   {where} RUN {short(command)}")
        print(f"      as: {short(rewritten, 400)}", flush=True)
        argv = [("bash" if s == "/bin/bash" else s) for s in shell[:1]] + shell[1:] + [rewritten]
        proc = subprocess.run(argv, cwd=cwd, env=run_env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        self.ran_cargo += 1
        if proc.returncode != 0:
            raise ReplayFailure(where, f"RUN {short(command, 300)}\nexit {proc.returncode}\n" + tail(proc.stdout))
        print("      ok")


class ReplayFailure(Exception):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")


def rewrite_cargo(command: str) -> str:
    out = re.sub(r"\bcargo\s+build\b", "cargo check", command)
    out = re.sub(r"\bcargo\s+chef\s+cook\b", "cargo chef cook --check", out)
    out = re.sub(r"\s--target(?:=|\s+)\S+", "", out)
    return out


def parse_env(args: str, variables: dict[str, str]) -> list[tuple[str, str]]:
    words = shlex.split(args)
    if len(words) >= 1 and "=" not in words[0]:
        return [(words[0], substitute(" ".join(words[1:]), variables))]
    pairs = []
    for w in words:
        k, _, v = w.partition("=")
        pairs.append((k, substitute(v, variables)))
    return pairs


def json_list(text: str, where: str) -> list[str]:
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise Unsupported(f"{where}: not a JSON list: {e}") from e
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Unsupported(f"{where}: not a JSON list of strings")
    return value


def copy_one(src: Path, target: Path, dir_form: bool) -> None:
    if src.is_dir():
        shutil.copytree(src, target, dirs_exist_ok=True, symlinks=True)
    else:
        dst = target / src.name if dir_form or target.is_dir() else target
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dockerfile", default="Dockerfile")
    ap.add_argument("--context", default=".")
    ap.add_argument("--stage", default="build", help="the stage that builds the binary")
    ap.add_argument("--work", default="target/dockerfile-replay/stages")
    ap.add_argument("--target-dir", default="target/dockerfile-replay/cargo")
    a = ap.parse_args()
    context = Path(a.context).resolve()
    work = Path(a.work).resolve()
    target_dir = Path(a.target_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        replay = Replay(Path(a.dockerfile), context, work, target_dir)
        print(f"replaying stage {a.stage!r} of {a.dockerfile} (TARGETARCH={host_arch()}, "
              f"{len(replay.context_list)} files in the context after .dockerignore)")
        replay.replay(a.stage)
    except Unsupported as e:
        print(f"dockerfile-replay: cannot replay: {e}", file=sys.stderr)
        return 2
    except ReplayFailure as e:
        print(f"dockerfile-replay: FAILED at {e}", file=sys.stderr)
        return 1
    if replay.ran_cargo == 0:
        print(f"dockerfile-replay: stage {a.stage!r} runs no cargo step", file=sys.stderr)
        return 1
    print(f"dockerfile-replay: ok ({replay.ran_cargo} cargo steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
