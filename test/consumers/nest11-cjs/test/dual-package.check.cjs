// Loads the installed package both ways in one process, as an app with CommonJS code and an
// ES module dependency would: the builds must agree on tokens, and the second one must warn.
const assert = require('node:assert/strict');

const warnings = [];
process.on('warning', (warning) => warnings.push(warning));

const cjs = require('nestjs-sessionkit');
import('nestjs-sessionkit').then((esm) => {
  assert.notEqual(esm.SessionModule, cjs.SessionModule, 'import and require should reach the two builds');
  assert.deepEqual(Object.keys(esm).sort(), Object.keys(cjs).filter((key) => key !== '__esModule').sort());
  assert.equal(esm.SESSION_STORE, cjs.SESSION_STORE, 'SESSION_STORE should be the same token in both builds');
  // process.emitWarning delivers on a later tick.
  setImmediate(() => {
    assert.ok(
      warnings.some((warning) => warning.code === 'NESTJS_SESSIONKIT_DUAL_PACKAGE'),
      'loading both builds should emit NESTJS_SESSIONKIT_DUAL_PACKAGE',
    );
    console.log('dual package: both builds export the same names and tokens, and loading both warns');
  });
});
