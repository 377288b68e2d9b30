// @ts-check
// The `devsandbox` debug type: which Python runs `devsandbox dap`, the adapter factory, the
// default configuration for F5 without a launch.json, and the process picker.
'use strict';
const vscode = require('vscode');
const cp = require('child_process');

/**
 * The Python that runs our servers: the devsandbox.python setting when the user set it, else
 * the Python extension's interpreter for the folder, else python3.
 * @param {vscode.Uri | undefined} resource
 * @param {vscode.OutputChannel} [output]
 * @returns {Promise<string>}
 */
async function findPython(resource, output) {
  const configured = vscode.workspace.getConfiguration('devsandbox', resource).get('python', '');
  if (configured) {
    return configured;
  }
  const extension = vscode.extensions.getExtension('ms-python.python');
  if (extension) {
    try {
      const api = extension.isActive ? extension.exports : await extension.activate();
      const environments = api && api.environments;
      if (environments) {
        const active = environments.getActiveEnvironmentPath(resource);
        const env = active && await environments.resolveEnvironment(active);
        const exe = env && env.executable && env.executable.uri && env.executable.uri.fsPath;
        if (exe) {
          return exe;
        }
      }
      const details = api && api.settings && api.settings.getExecutionDetails &&
        api.settings.getExecutionDetails(resource);
      if (details && details.execCommand && details.execCommand[0]) {
        return details.execCommand[0];
      }
    } catch (err) {
      output && output.appendLine(`the Python extension gave no interpreter: ${err}`);
    }
  }
  return 'python3';
}

/** Arguments before the subcommand: the log file, when one is set. */
function serverArgs(/** @type {string} */ subcommand) {
  const logFile = vscode.workspace.getConfiguration('devsandbox').get('logFile', '');
  return ['-m', 'devsandbox', ...(logFile ? ['--log-file', logFile] : []), subcommand];
}

/**
 * @param {vscode.ExtensionContext} context
 * @param {vscode.OutputChannel} output
 * @param {import('./timeline').Timeline} timeline
 */
function registerAdapter(context, output, timeline) {
  context.subscriptions.push(vscode.debug.registerDebugAdapterDescriptorFactory('devsandbox', {
    async createDebugAdapterDescriptor(session) {
      const resource = session.workspaceFolder && session.workspaceFolder.uri;
      const python = await findPython(resource, output);
      const args = serverArgs('dap');
      output.appendLine(`starting the debug adapter: ${python} ${args.join(' ')}`);
      // No shell: the executable and its arguments are passed to spawn() as they are.
      return new vscode.DebugAdapterExecutable(python, args);
    },
  }));

  context.subscriptions.push(vscode.debug.registerDebugConfigurationProvider('devsandbox', {
    resolveDebugConfiguration(folder, config) {
      if (!config.type && !config.request && !config.name) {
        // F5 with no launch.json: run the current file, recorded.
        const editor = vscode.window.activeTextEditor;
        if (!editor || editor.document.languageId !== 'python') {
          vscode.window.showInformationMessage('DevSandbox: open a Python file to debug it.');
          return undefined;
        }
        return {
          type: 'devsandbox', request: 'launch', name: 'DevSandbox: current file',
          program: '${file}', console: 'integratedTerminal', devsandbox: { record: true },
        };
      }
      return config;
    },
  }));

  context.subscriptions.push(vscode.debug.registerDebugAdapterTrackerFactory('devsandbox', {
    createDebugAdapterTracker(session) {
      return {
        onDidSendMessage(message) {
          if (message.type === 'event' && message.event === 'stopped') {
            timeline.stopped(session);
          }
        },
        onWillStopSession() {
          timeline.ended(session);
        },
      };
    },
  }));
}

/** `${command:pickProcess}`: choose a running Python process; returns its id. */
async function pickProcess() {
  const list = await new Promise((resolve) => {
    cp.execFile('ps', ['-A', '-ww', '-o', 'pid=,args='], { maxBuffer: 8 << 20 }, (err, stdout) => {
      resolve(err ? [] : stdout.split('\n'));
    });
  });
  const items = [];
  for (const line of /** @type {string[]} */ (list)) {
    const match = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (!match || Number(match[1]) === process.pid || !/python/i.test(match[2].split(' ')[0])) {
      continue;
    }
    if (/-m devsandbox (dap|lsp)|debugpy[/.]adapter/.test(match[2])) {
      continue;  // our own servers
    }
    items.push({ label: match[2].slice(0, 120), description: `pid ${match[1]}`, pid: match[1] });
  }
  if (items.length === 0) {
    vscode.window.showInformationMessage('DevSandbox: no Python process is running.');
    return undefined;
  }
  const choice = await vscode.window.showQuickPick(items, {
    placeHolder: 'The Python process to attach to', matchOnDescription: true,
  });
  return choice ? choice.pid : undefined;
}

module.exports = { findPython, serverArgs, registerAdapter, pickProcess };
