#!/usr/bin/env node
// The `joulestream` command. With tsx installed (a development checkout) it runs the TypeScript
// sources directly, so a clone runs with no build step and tests never run a stale build. Without
// it (the Docker image: `npm ci --omit=dev`) it runs the JavaScript that `npm run build` put in dist/.
let register = null;
try {
  ({ register } = await import('tsx/esm/api'));
} catch (err) {
  // No dev dependencies (tsx is not there): the built JavaScript below is the one to run. Any other
  // failure to load tsx is a broken install and is reported as it is.
  if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
}
if (register) {
  register();
  await import('../services/cli/main.ts');
} else {
  try {
    await import('../dist/services/cli/main.js');
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('dist/services/cli/main.js'))
      throw err;
    process.stderr.write(
      'joulestream: dist/ has no build and tsx is not installed: run `npm run build` (needs the dev dependencies) or `npm ci` for a development checkout\n',
    );
    process.exit(1);
  }
}
