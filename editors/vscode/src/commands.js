// @ts-check
// Commands: each one is a DAP custom request (`devsandbox/...`) to the active DevSandbox
// session, with a little UI around it.  The server does the work and words the messages.
'use strict';
const path = require('path');
const vscode = require('vscode');

/** The active devsandbox debug session, or an error message for the user. */
function activeSession() {
  const session = vscode.debug.activeDebugSession;
  if (!session || session.type !== 'devsandbox') {
    throw new Error('no DevSandbox debug session is active');
  }
  return session;
}

/** The selected frame of the active session (the Call Stack view's choice), if any. */
function selectedFrame() {
  const item = vscode.debug.activeStackItem;
  if (item && 'frameId' in item && item.session.type === 'devsandbox') {
    return { threadId: item.threadId, frameId: item.frameId };
  }
  return {};
}

/** The selection, else the dotted name under the cursor, else ''. */
function textAtCursor() {
  const editor = vscode.window.activeTextEditor;
  if (editor) {
    const selected = editor.document.getText(editor.selection).trim();
    if (selected) {
      return selected;
    }
    const range = editor.document.getWordRangeAtPosition(editor.selection.active, /[\w.]+/);
    if (range) {
      return editor.document.getText(range);
    }
  }
  return '';
}

/** The text at the cursor, else ask. */
async function expressionAtCursor(/** @type {string} */ prompt) {
  return textAtCursor() || vscode.window.showInputBox({ prompt });
}

/** The error text of a failed custom request. */
function reason(/** @type {any} */ err) {
  return (err && err.message) || String(err);
}

/**
 * @param {vscode.ExtensionContext} context
 * @param {vscode.OutputChannel} output
 * @param {import('./timeline').Timeline} timeline
 */
function registerCommands(context, output, timeline) {
  /** @param {any} value */
  function show(/** @type {string} */ title, value) {
    output.appendLine(`--- ${title}`);
    output.appendLine(typeof value === 'string' ? value : JSON.stringify(value, null, 2));
    output.show(true);
  }

  /** Register a command whose errors become one message. */
  function command(/** @type {string} */ id, /** @type {(...args: any[]) => any} */ run) {
    context.subscriptions.push(vscode.commands.registerCommand(id, async (...args) => {
      try {
        return await run(...args);
      } catch (err) {
        vscode.window.showErrorMessage(`DevSandbox: ${reason(err)}`);
        return undefined;
      }
    }));
  }

  command('devsandbox.debug.startRecording', async () => {
    await activeSession().customRequest('devsandbox/startRecording', { options: {} });
    vscode.window.showInformationMessage('DevSandbox: recording the program.');
  });

  command('devsandbox.debug.stopRecording', async () => {
    const result = await activeSession().customRequest('devsandbox/stopRecording', {});
    const file = result && result.path;
    const choice = await vscode.window.showInformationMessage(
      `DevSandbox: recording stopped${file ? `: ${path.basename(file)}` : ''}.`,
      ...(file ? ['Replay'] : []));
    if (choice === 'Replay') {
      await replay(vscode.Uri.file(file));
    }
  });

  /** Start a post-mortem session on a recording. */
  async function replay(/** @type {vscode.Uri | undefined} */ uri) {
    if (!uri) {
      const folder = vscode.workspace.workspaceFolders && vscode.workspace.workspaceFolders[0];
      const picked = await vscode.window.showOpenDialog({
        canSelectMany: false, filters: { 'DevSandbox recordings': ['dsrec'] },
        defaultUri: folder && vscode.Uri.joinPath(folder.uri, '.devsandbox', 'recordings'),
        openLabel: 'Replay',
      });
      uri = picked && picked[0];
      if (!uri) {
        return;
      }
    }
    await vscode.debug.startDebugging(vscode.workspace.getWorkspaceFolder(uri), {
      type: 'devsandbox', request: 'launch', name: `Replay ${path.basename(uri.fsPath)}`,
      devsandbox: { replay: uri.fsPath },
    });
  }
  command('devsandbox.debug.replay', replay);

  command('devsandbox.debug.valueHistory', async () => {
    const session = activeSession();
    const expression = await expressionAtCursor('The variable whose history to show');
    if (!expression) {
      return;
    }
    const frame = selectedFrame();
    const body = await session.customRequest('devsandbox/valueHistory', { expression, ...frame });
    show(`value history of ${expression}`, body);
    const items = (body.changes || []).map((/** @type {any} */ c) => ({
      label: c.value, description: `step ${c.step.toLocaleString()} · line ${c.line}`,
      detail: `${c.function} in ${path.basename(c.file)}`, change: c,
    }));
    if (items.length === 0) {
      vscode.window.showInformationMessage(`DevSandbox: ${expression} never changed in the recording.`);
      return;
    }
    const choice = await vscode.window.showQuickPick(items, {
      placeHolder: `${expression}: ${items.length} change${items.length === 1 ? '' : 's'}` +
        `${body.truncated ? ' (more not shown)' : ''}; pick one to go there`,
    });
    if (choice) {
      await session.customRequest('devsandbox/gotoStep',
        { threadId: choice.change.threadId, step: choice.change.step });
    }
  });

  command('devsandbox.debug.lastWrite', async () => {
    const session = activeSession();
    const expression = await expressionAtCursor('The variable whose last write to find');
    if (!expression) {
      return;
    }
    const body = await session.customRequest('devsandbox/lastWrite',
      { expression, goto: true, ...selectedFrame() });
    if (!body.found) {
      vscode.window.showInformationMessage(`DevSandbox: ${body.message || `${expression} never changed.`}`);
      return;
    }
    vscode.window.showInformationMessage(`DevSandbox: ${expression} became ${body.new} ` +
      `(was ${body.old}) at line ${body.line} of ${body.function}, step ${body.step.toLocaleString()}.`);
  });

  for (const verb of ['stepBackIn', 'stepBackOut']) {
    command(`devsandbox.debug.${verb}`, async () => {
      const session = activeSession();
      const { threadId } = selectedFrame();
      await session.customRequest(`devsandbox/${verb}`, threadId ? { threadId } : {});
    });
  }

  command('devsandbox.debug.timeline', async () => timeline.open(activeSession()));

  command('devsandbox.debug.inspect', async () => {
    const session = activeSession();
    const target = await vscode.window.showInputBox({
      prompt: 'What to inspect: a global of __main__ (NAME), pkg.mod:NAME.attr[key] or a $N handle',
      value: textAtCursor(),
    });
    if (target) {
      show(`inspect ${target}`, await session.customRequest('devsandbox/inspect', { path: target }));
    }
  });

  command('devsandbox.debug.set', async () => {
    const session = activeSession();
    const target = await vscode.window.showInputBox({ prompt: 'The live value to change (a path, as for Inspect)' });
    if (!target) {
      return;
    }
    const expression = await vscode.window.showInputBox({ prompt: `New value of ${target} (a Python expression)` });
    if (expression === undefined) {
      return;
    }
    const body = await session.customRequest('devsandbox/set', { path: target, expression });
    show(`set ${target}`, body);
    vscode.window.showInformationMessage(`DevSandbox: ${target} changed` +
      `${body && body.change !== undefined ? ` (change ${body.change}; Roll Back undoes it)` : ''}.`);
  });

  command('devsandbox.debug.evaluate', async () => {
    const session = activeSession();
    const editor = vscode.window.activeTextEditor;
    const selected = editor ? editor.document.getText(editor.selection) : '';
    const code = selected || await vscode.window.showInputBox({ prompt: 'Python code to run in the program' });
    if (code) {
      show(`eval ${code.split('\n')[0]}`, await session.customRequest('devsandbox/eval', { code }));
    }
  });

  command('devsandbox.debug.hotReload', async () => {
    const session = activeSession();
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document.languageId !== 'python') {
      throw new Error('open the Python file to reload');
    }
    const body = await session.customRequest('devsandbox/hotReload',
      { file: editor.document.fileName, source: editor.document.getText() });
    show(`hot reload ${path.basename(editor.document.fileName)}`, body);
    const changed = (body.changed || []).map((/** @type {any} */ c) => c.name).join(', ');
    vscode.window.showInformationMessage(`DevSandbox: reloaded ${path.basename(editor.document.fileName)}` +
      ` (${changed || 'nothing changed'}).`);
  });

  command('devsandbox.debug.rollback', async () => {
    const session = activeSession();
    const body = await session.customRequest('devsandbox/changes', {});
    const items = (body.changes || []).filter((/** @type {any} */ c) => !c.rolledBack).reverse()
      .map((/** @type {any} */ c) => ({
        label: `${c.action} ${c.path || ''}`, description: c.change,
        detail: `${c.old} → ${c.new}`, change: c.change,
      }));
    if (items.length === 0) {
      vscode.window.showInformationMessage('DevSandbox: there is no live change to roll back.');
      return;
    }
    const choice = await vscode.window.showQuickPick(items, { placeHolder: 'The change to undo' });
    if (choice) {
      show(`rollback ${choice.change}`,
        await session.customRequest('devsandbox/rollback', { change: choice.change }));
    }
  });
}

module.exports = { registerCommands };
