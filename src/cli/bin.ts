#!/usr/bin/env node
/**
 * @module cli/bin
 * The `airlock` executable. It only checks the Node.js version (in syntax every Node can
 * parse) and then loads the CLI, so an old Node gets one clear line instead of a crash.
 */
const MIN = [22, 13] as const;
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < MIN[0] || (major === MIN[0] && minor < MIN[1])) {
  process.stderr.write(
    `airlock: error AIRLOCK_ERR_CLI_NODE_VERSION: airlock needs Node.js >= ${MIN.join('.')} but ${process.execPath} is ${process.versions.node}; install Node.js 24 LTS and put it first on PATH (a project that pins Node with the \`node\` devDependency, as airlock's repository does, gets it with \`npx airlock\` or an npm script)\n`,
  );
  process.exit(1);
}
// V8's code cache on disk (Node >= 22.1): later runs skip compiling the CLI's modules, about a
// sixth of a short command's time. Best effort: an unwritable cache folder changes nothing.
(await import('node:module')).enableCompileCache?.();
const { runMain } = await import('./main.ts');
await runMain(process.argv.slice(2));
