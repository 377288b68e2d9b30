// VS Code's DAP test support (DebugClient) driving `devsandbox dap` as an editor would.
// Run by tests/dap_testsupport/test_mocha.py; by hand:
//   DEVSANDBOX_PYTHON=/path/to/venv/bin/python node_modules/.bin/mocha test.js
'use strict';

const assert = require('assert');
const path = require('path');
const { DebugClient } = require('@vscode/debugadapter-testsupport');

const PYTHON = process.env.DEVSANDBOX_PYTHON || 'python3';
const ADAPTER = path.join(__dirname, 'adapter.py');
const PROGRAM = path.join(__dirname, 'program.py');
const CRASH = path.join(__dirname, 'crash.py');
const TIMEOUT = 20000; // per DAP wait; the machine is small and shared

// Lines in program.py
const L = {
  addBody: 2, addReturn: 3, values: 7, callAdd: 8, loop: 9, loopBody: 10, print: 11,
  raiseHandled: 13,
};

function launchArgs(program, extra) {
  return Object.assign({
    type: 'devsandbox', request: 'launch', name: 'testsupport', program,
    cwd: __dirname, console: 'internalConsole', justMyCode: true,
  }, extra || {});
}

describe('devsandbox dap through DebugClient', function () {
  this.timeout(60000);
  let dc;

  beforeEach(function () {
    dc = new DebugClient(PYTHON, ADAPTER, 'devsandbox', { env: process.env, cwd: __dirname }, true);
    dc.defaultTimeout = TIMEOUT;
    return dc.start();
  });

  afterEach(function () {
    return dc.stop();
  });

  // Wait for a stop and return the thread id together with the top frame.
  async function stoppedAt(reason, line, source = PROGRAM) {
    const event = dc.waitForEvent('stopped');
    const stack = await dc.assertStoppedLocation(reason, { path: source, line });
    return { threadId: (await event).body.threadId, frame: stack.body.stackFrames[0] };
  }

  async function localsOf(frameId) {
    const scopes = await dc.scopesRequest({ frameId });
    const ref = scopes.body.scopes[0].variablesReference;
    const vars = await dc.variablesRequest({ variablesReference: ref });
    const out = {};
    for (const v of vars.body.variables) out[v.name] = v.value;
    return out;
  }

  // Launch with breakpoints (and exception filters) set during the configuration phase.
  function launchWith(program, breakpoints, filters) {
    const configured = dc.waitForEvent('initialized').then(async () => {
      const response = await dc.setBreakpointsRequest({ source: { path: program }, breakpoints });
      await dc.setExceptionBreakpointsRequest({ filters: filters || [] });
      await dc.configurationDoneRequest();
      return response;
    });
    return Promise.all([configured, dc.launch(launchArgs(program))]).then(([bps]) => bps);
  }

  it('stops at a breakpoint', function () {
    return dc.hitBreakpoint(launchArgs(PROGRAM), { path: PROGRAM, line: L.values });
  });

  it('steps in, over and out', async function () {
    const stop = stoppedAt('breakpoint', L.callAdd);
    await launchWith(PROGRAM, [{ line: L.callAdd }]);
    const { threadId } = await stop;

    await Promise.all([dc.stepInRequest({ threadId }),
                       dc.assertStoppedLocation('step', { path: PROGRAM, line: L.addBody })]);
    await Promise.all([dc.nextRequest({ threadId }),
                       dc.assertStoppedLocation('step', { path: PROGRAM, line: L.addReturn })]);
    // Out of add(): back in main() on the line of the call, then over it.
    await Promise.all([dc.stepOutRequest({ threadId }),
                       dc.assertStoppedLocation('step', { path: PROGRAM, line: L.callAdd })]);
    await Promise.all([dc.nextRequest({ threadId }),
                       dc.assertStoppedLocation('step', { path: PROGRAM, line: L.loop })]);
  });

  it('shows variables and evaluates expressions', async function () {
    const stop = stoppedAt('breakpoint', L.print);
    await launchWith(PROGRAM, [{ line: L.print }]);
    const { frame } = await stop;

    const locals = await localsOf(frame.id);
    assert.strictEqual(locals.result, '13');
    assert.strictEqual(locals.values, '[1, 2, 3]');

    const evaluated = await dc.evaluateRequest({ expression: 'result * 2 + len(values)',
                                                 frameId: frame.id, context: 'repl' });
    assert.strictEqual(evaluated.body.result, '29');
    const hover = await dc.evaluateRequest({ expression: 'values[-1]', frameId: frame.id,
                                             context: 'hover' });
    assert.strictEqual(hover.body.result, '3');
  });

  it('stops at a conditional breakpoint only when the condition holds', async function () {
    const stop = stoppedAt('breakpoint', L.loopBody);
    const bps = await launchWith(PROGRAM, [{ line: L.loopBody, condition: 'i == 3' }]);
    assert.strictEqual(bps.body.breakpoints[0].verified, true);
    const { frame } = await stop;
    const locals = await localsOf(frame.id);
    assert.strictEqual(locals.i, '3');
    assert.strictEqual(locals.result, '6'); // 3 + 0 + 1 + 2
  });

  it('stops on a raised exception with the "raised" filter', async function () {
    const stop = stoppedAt('exception', L.raiseHandled);
    await launchWith(PROGRAM, [], ['raised']);
    const { threadId } = await stop;
    const info = await dc.exceptionInfoRequest({ threadId });
    assert.match(info.body.exceptionId, /ValueError/);
  });

  it('stops on an uncaught exception with the "uncaught" filter', async function () {
    const stop = stoppedAt('exception', 3, CRASH);
    await launchWith(CRASH, [], ['uncaught']);
    const { threadId, frame } = await stop;
    const info = await dc.exceptionInfoRequest({ threadId });
    assert.match(info.body.exceptionId, /RuntimeError/);
    assert.match(info.body.description, /n is too big: 3/);
    assert.strictEqual((await localsOf(frame.id)).n, '3');
  });

  it('runs to the end, with the program output, exit code and termination', async function () {
    const output = dc.assertOutput('stdout', 'result 13', TIMEOUT);
    const exited = dc.waitForEvent('exited');
    const terminated = dc.waitForEvent('terminated');
    await Promise.all([dc.configurationSequence(), dc.launch(launchArgs(PROGRAM))]);
    await output;
    assert.strictEqual((await exited).body.exitCode, 0);
    await terminated;
  });
});
