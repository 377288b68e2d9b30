// @ts-check
// The language client for `devsandbox lsp`: hovers with live and recorded values, inline
// values, code lenses with call counts and their commands, diagnostics.  It runs beside
// the user's main Python language server and only adds to it.
'use strict';
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');
const { findPython, serverArgs } = require('./adapter');

/**
 * @param {vscode.ExtensionContext} context
 * @param {vscode.OutputChannel} output
 */
async function startLanguageClient(context, output) {
  const folder = vscode.workspace.workspaceFolders && vscode.workspace.workspaceFolders[0];
  const python = await findPython(folder && folder.uri, output);
  const args = serverArgs('lsp');
  output.appendLine(`starting the language server: ${python} ${args.join(' ')}`);
  const client = new LanguageClient('devsandbox', 'DevSandbox', {
    command: python, args, transport: TransportKind.stdio,
  }, {
    documentSelector: [{ scheme: 'file', language: 'python' }],
    outputChannel: output,
  });
  await client.start();
  context.subscriptions.push(client);
  return client;
}

module.exports = { startLanguageClient };
