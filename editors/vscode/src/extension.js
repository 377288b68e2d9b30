// @ts-check
// DevSandbox for VS Code: wiring only.  The debug adapter (`devsandbox dap`) and the language
// server (`devsandbox lsp`) do the work; this extension starts them, contributes the
// `devsandbox` debug type and turns commands into DAP custom requests.
'use strict';
const vscode = require('vscode');
const { registerAdapter, pickProcess } = require('./adapter');
const { startLanguageClient } = require('./languageClient');
const { registerCommands } = require('./commands');
const { Timeline } = require('./timeline');

/** @type {{ stop(): Thenable<void> } | undefined} */
let languageClient;

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  const output = vscode.window.createOutputChannel('DevSandbox');
  context.subscriptions.push(output);
  const timeline = new Timeline(context);
  context.subscriptions.push(timeline);
  registerAdapter(context, output, timeline);
  registerCommands(context, output, timeline);
  context.subscriptions.push(vscode.commands.registerCommand('devsandbox.pickProcess', pickProcess));
  if (vscode.workspace.getConfiguration('devsandbox').get('languageServer', true)) {
    try {
      languageClient = await startLanguageClient(context, output);
    } catch (err) {
      output.appendLine(`devsandbox lsp did not start: ${err}`);
      vscode.window.showWarningMessage(`DevSandbox: the language server did not start (${err}). ` +
        'Set devsandbox.python to a Python with DevSandbox installed.');
    }
  }
}

async function deactivate() {
  if (languageClient) {
    await languageClient.stop();
    languageClient = undefined;
  }
}

module.exports = { activate, deactivate };
