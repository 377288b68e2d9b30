// Drives the DevSandbox extension in code-server (VS Code in Debian's Chromium, playwright-core)
// the way a user would: open the workspace and app.py, set a breakpoint with F9, press F5 on the
// recorded DevSandbox configuration, continue to the 4th hit, press Step Back in the debug
// toolbar (twice), read the Call Stack and Variables views, hover a variable, read the code lens.
//
//   node drive.js CONFIG.json      (written by tests/editors/test_vscode.py)
// CONFIG: {url, folder, file, line, out}.  Prints one JSON report on stdout; screenshots go to
// CONFIG.out.  Each check waits with a deadline; a failed wait is reported, not thrown, so that
// the report says how far it got.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const report = { steps: [], screenshots: [] };
const started = Date.now();

function note(name, data) {
  report.steps.push({ name, seconds: (Date.now() - started) / 1000, ...data });
}

async function screenshot(page, name) {
  const file = path.join(config.out, `${name}.png`);
  await page.screenshot({ path: file });
  report.screenshots.push(file);
}

/** Text of the debug views: the top frame's line and the Variables rows. */
async function debugState(page) {
  return page.evaluate(() => {
    const rows = (sel) => [...document.querySelectorAll(sel)]
      .sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index));
    const frames = rows('.debug-call-stack .monaco-list-row').map((r) => r.innerText.replace(/\s+/g, ' ').trim());
    const variables = rows('.debug-variables .monaco-list-row').map((r) => r.innerText.replace(/\s+/g, ' ').trim());
    const paused = document.body.innerText.toUpperCase();
    return { frames, variables, paused };
  });
}

/** Poll `check(state)` until it is true; returns the last state. */
async function until(page, check, timeout = 20000) {
  const deadline = Date.now() + timeout;
  let state;
  for (;;) {
    state = await debugState(page);
    if (check(state) || Date.now() > deadline) {
      return { ok: check(state), state };
    }
    await page.waitForTimeout(150);
  }
}

const shown = (state) => ({ frames: state.frames, variables: state.variables });
const hasVar = (state, name, value) => state.variables.includes(`${name} = ${value}`);
const topLine = (state) => {
  const match = /(\d+):\d+$/.exec(state.frames[0] || '');
  return match ? Number(match[1]) : null;
};

/** Move the mouse onto a word of a line of the editor (Monaco renders tokens as spans);
 * with `select`, double-click it. */
async function hoverWord(page, lineText, word, dx = 0, select = false) {
  const point = await page.evaluate(([text, w]) => {
    const norm = (s) => s.replace(/\u00a0/g, ' ').trim();
    for (const line of document.querySelectorAll('.monaco-editor .view-line')) {
      if (!norm(line.textContent).startsWith(text)) {  // inline values may follow
        continue;
      }
      for (const span of line.querySelectorAll('span span')) {
        const node = span.firstChild;
        const text = node && node.nodeType === Node.TEXT_NODE ? node.data.replace(/\u00a0/g, ' ') : '';
        const at = text.search(new RegExp(`\\b${w}\\b`));
        if (at >= 0) {
          const range = document.createRange();
          range.setStart(node, at);
          range.setEnd(node, at + w.length);
          const r = range.getBoundingClientRect();
          return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
        }
      }
    }
    return null;
  }, [lineText, word]);
  if (point) {
    await page.mouse.move(point.x - 30 + dx, point.y + 30);
    await page.mouse.move(point.x - 3 + dx, point.y);
    await page.mouse.move(point.x + dx, point.y);
    if (select) {
      await page.mouse.dblclick(point.x + dx, point.y);
    }
  }
  return point !== null;
}

/** Run a command from the command palette (typed once the palette is open). */
async function runCommand(page, title) {
  await page.keyboard.press('Control+Shift+P');
  await page.locator('.quick-input-widget input').waitFor({ state: 'visible', timeout: 10000 });
  await page.keyboard.type(title);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first()
    .waitFor({ state: 'visible', timeout: 10000 });
  await page.keyboard.press('Enter');
}

async function main() {
  const ctx = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(config.out, 'chrome-')), {
    executablePath: config.chromium, headless: true, viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = ctx.pages()[0];
  try {
    await page.goto(`${config.url}/?folder=${encodeURIComponent(config.folder)}`);
    await page.dblclick(`.explorer-folders-view .monaco-list-row[aria-label^="${path.basename(config.file)}"]`,
      { timeout: 60000 });
    await page.click('.monaco-editor .view-lines');
    note('opened');

    // A breakpoint with F9 on the line, then F5 (retried: it is ignored until the extension
    // host is ready and only opens the Run view).
    const breakpoint = page.locator('.monaco-editor .codicon-debug-breakpoint');
    for (let attempt = 0; attempt < 10 && await breakpoint.count() === 0; attempt++) {
      await page.click('.monaco-editor .view-lines');
      await page.keyboard.press('Control+g');
      await page.keyboard.type(String(config.line));
      await page.keyboard.press('Enter');
      await page.keyboard.press('F9');
      await breakpoint.first().waitFor({ timeout: 3000 }).catch(() => {});
    }
    note('breakpoint', { ok: await breakpoint.count() === 1 });
    for (let i = 0; i < 20; i++) {
      await page.keyboard.press('F5');
      try {
        await page.waitForSelector('.debug-toolbar', { timeout: 3000 });
        break;
      } catch (err) { /* not yet */ }
    }
    let r = await until(page, (s) => s.paused.includes('PAUSED ON BREAKPOINT') && hasVar(s, 'i', 0), 60000);
    note('stopped', { ok: r.ok, ...shown(r.state) });

    // Continue to the 4th time round the loop (F5 in the editor continues).
    for (let hit = 1; hit <= 3; hit++) {
      await page.keyboard.press('F5');
      r = await until(page, (s) => hasVar(s, 'i', hit) && topLine(s) === config.line);
    }
    note('continued', { ok: r.ok, line: topLine(r.state), ...shown(r.state) });
    await screenshot(page, 'vscode-stopped');

    // Step Back, from the toolbar: first to the loop's `for` line (before i became 3), then to
    // the previous time round (i = 2, total = 1).
    const stepBack = page.locator('.debug-toolbar .action-label.codicon-debug-step-back');
    note('step back button', { ok: await stepBack.isVisible(), label: await stepBack.getAttribute('aria-label') });
    await stepBack.click();
    r = await until(page, (s) => topLine(s) === config.line - 1 && hasVar(s, 'i', 2));
    note('step back 1', { ok: r.ok, line: topLine(r.state), ...shown(r.state) });
    await stepBack.click();
    r = await until(page, (s) => topLine(s) === config.line && hasVar(s, 'i', 2) && hasVar(s, 'total', 1));
    note('step back 2', { ok: r.ok, line: topLine(r.state), ...shown(r.state) });
    await page.waitForTimeout(500);  // inline values and the status bar catch up
    await screenshot(page, 'vscode-step-back');

    // Hover: VS Code shows the debug hover (evaluate, answered from the recording) when the
    // mouse rests on a variable; the language server's hover is the editor's own hover
    // (Ctrl+K Ctrl+I at the cursor).
    const lineText = config.lineText[config.line];
    let debugHover = '';
    for (let attempt = 0; attempt < 10 && !debugHover; attempt++) {
      await hoverWord(page, lineText, 'total', attempt % 2);
      try {
        await page.waitForSelector('.debug-hover-widget', { state: 'visible', timeout: 2000 });
        debugHover = await page.locator('.debug-hover-widget').innerText();
      } catch (err) { /* again */ }
    }
    note('debug hover', { ok: debugHover !== '', text: debugHover });
    await page.waitForTimeout(300);
    await screenshot(page, 'vscode-debug-hover');

    // Holding Alt swaps the debug hover for the editor's own: the language server's.
    let lspHover = '';
    await page.keyboard.down('Alt');
    for (let attempt = 0; attempt < 10 && !lspHover.includes('total'); attempt++) {
      await hoverWord(page, lineText, 'total', attempt % 2);
      try {
        const hover = page.locator('.monaco-hover:not(.hidden)', { hasText: 'total' }).first();
        await hover.waitFor({ state: 'visible', timeout: 2000 });
        lspHover = await hover.innerText();
      } catch (err) { /* again */ }
    }
    note('lsp hover', { ok: lspHover.includes('total'), text: lspHover });
    await page.waitForTimeout(500);  // the hover fades in
    await screenshot(page, 'vscode-hover');
    await page.keyboard.up('Alt');
    await page.mouse.move(5, 450);
    await page.keyboard.press('Escape');

    // Value History of the Selection (command palette, cursor on `total`): the values total
    // took; picking the first one jumps to that step.
    await hoverWord(page, lineText, 'total', 0, true);  // double-click: select the word
    await runCommand(page, 'DevSandbox: Value History of the Selection');
    const picks = page.locator('.quick-input-list .monaco-list-row');
    let history = [];
    try {
      await picks.filter({ hasText: /step \d+ · line \d+/ }).first().waitFor({ state: 'visible', timeout: 15000 });
      history = (await picks.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
      await screenshot(page, 'vscode-value-history');
      await page.keyboard.press('Enter');  // the first change
      r = await until(page, (s) => hasVar(s, 'total', 0) && !hasVar(s, 'i', 2));
      note('value history', { ok: r.ok, history, line: topLine(r.state), ...shown(r.state) });
    } catch (err) {
      note('value history', { ok: false, history, error: String(err) });
      await screenshot(page, 'vscode-value-history');
    }

    // Code lenses from the language server: call counts of the recording.
    let lenses = [];
    for (let attempt = 0; attempt < 40; attempt++) {
      lenses = await page.locator('.codelens-decoration').allInnerTexts();
      if (lenses.some((t) => /\d+ calls?\b/.test(t))) {
        break;
      }
      await page.waitForTimeout(250);
    }
    note('code lenses', { ok: lenses.some((t) => /\d+ calls?\b/.test(t)), lenses });

    // The timeline (command palette): the recorded calls; clicking one jumps to its start.
    await runCommand(page, 'DevSandbox: Open the Timeline');
    const view = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
    const row = view.locator('.call', { hasText: config.timelineFunction }).first();
    let rows = [];
    try {
      await row.waitFor({ timeout: 20000 });
      rows = await view.locator('.call').allInnerTexts();
      await view.locator('.call.current').first().waitFor({ timeout: 10000 });
      note('timeline', { ok: true, rows, current: await view.locator('.call.current').first().innerText(),
        where: await view.locator('#where').innerText() });
      await screenshot(page, 'vscode-timeline');
      await row.click();
      r = await until(page, (s) => topLine(s) === config.timelineLine &&
        !s.variables.some((v) => v.startsWith('total')));  // not yet set at the call
      note('timeline goto', { ok: r.ok, line: topLine(r.state), ...shown(r.state),
        where: await view.locator('#where').innerText() });
    } catch (err) {
      note('timeline', { ok: false, rows, error: String(err) });
      await screenshot(page, 'vscode-timeline');
    }

    // Live state: Inspect a Live Value... (devsandbox/inspect, answered by the agent in the
    // program) shows the value in the DevSandbox output channel.
    await page.keyboard.press('Escape');
    await page.click('.monaco-editor .view-lines');
    await runCommand(page, 'DevSandbox: Inspect a Live Value');
    const input = page.locator('.quick-input-widget', { hasText: 'What to inspect' });
    await input.waitFor({ state: 'visible', timeout: 10000 });
    await page.keyboard.press('Control+a');
    await page.keyboard.type(config.inspect);
    await page.keyboard.press('Enter');
    let inspected = '';
    for (let attempt = 0; attempt < 40 && !inspected.includes(config.inspectShows); attempt++) {
      await page.waitForTimeout(250);
      inspected = await page.locator('.part.panel .monaco-editor .view-lines').allInnerTexts()
        .then((t) => t.join('\n').replace(/\u00a0/g, ' '));
    }
    note('inspect', { ok: inspected.includes(config.inspectShows), text: inspected.slice(-1500) });
    await screenshot(page, 'vscode-inspect');

    // Shift+F5 ends the session.
    await page.keyboard.press('Shift+F5');
    try {
      await page.waitForSelector('.debug-toolbar', { state: 'hidden', timeout: 15000 });
      note('stopped debugging', { ok: true });
    } catch (err) {
      note('stopped debugging', { ok: false });
    }
  } catch (err) {
    report.error = String(err && err.stack || err);
    await screenshot(page, 'vscode-error').catch(() => {});
  } finally {
    await ctx.close();
  }
  report.seconds = (Date.now() - started) / 1000;
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
