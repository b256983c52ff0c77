/**
 * Jest transformer for the ES-module-only packages of node_modules (Nest 12). Jest on Node 20
 * cannot require ES modules, so each file is transpiled to CommonJS with TypeScript, once, and
 * cached by Jest. `import.meta.url` has no CommonJS form and is rewritten to the file's URL, and a
 * `createRequire` shim is dropped in favour of CommonJS's own require.
 */
// @ts-check
const ts = require('typescript');
const { createHash } = require('node:crypto');

module.exports = {
  /** @param {string} source @param {string} filename */
  process(source, filename) {
    const code = source
      // `const require = createRequire(import.meta.url)`: CommonJS already has a require.
      .replace(/\b(?:const|let|var)\s+require\s*=\s*createRequire\([^;]*\);?/g, '')
      .replace(/\bimport\.meta\.url\b/g, "require('node:url').pathToFileURL(__filename).href");
    const out = ts.transpileModule(code, {
      fileName: filename,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, allowJs: true, esModuleInterop: true, sourceMap: false },
    });
    return { code: out.outputText };
  },
  /** @param {string} source @param {string} filename */
  getCacheKey(source, filename) {
    return createHash('sha1').update('esm-to-cjs-v2').update(filename).update(source).digest('hex');
  },
};
