// @ts-check
// The timeline: a webview with the recording's call tree (`devsandbox/timeline`) and a
// scrubber over the thread's steps.  Clicking a call or moving the scrubber jumps there
// (`devsandbox/gotoStep`); every stop moves the marker (`devsandbox/position`).  A status bar
// item shows "step N of M" while the session is in the past.
'use strict';
const vscode = require('vscode');
const crypto = require('crypto');

const PAGE = 2000;  // calls fetched per request

class Timeline {
  /** @param {vscode.ExtensionContext} context */
  constructor(context) {
    this.context = context;
    /** @type {vscode.WebviewPanel | undefined} */
    this.panel = undefined;
    /** @type {vscode.DebugSession | undefined} */
    this.session = undefined;
    this.threadId = undefined;
    this.status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
    this.status.command = 'devsandbox.debug.timeline';
    this.status.tooltip = 'DevSandbox: this is the recorded past. Click for the timeline.';
  }

  /** Open (or reveal) the panel for a session and load its call tree. */
  async open(/** @type {vscode.DebugSession} */ session) {
    this.session = session;
    if (!this.panel) {
      const media = vscode.Uri.joinPath(this.context.extensionUri, 'media');
      this.panel = vscode.window.createWebviewPanel('devsandbox.timeline', 'DevSandbox Timeline',
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        { enableScripts: true, localResourceRoots: [media], retainContextWhenHidden: true });
      this.panel.webview.html = this.html(this.panel.webview, media);
      this.panel.onDidDispose(() => { this.panel = undefined; });
      this.panel.webview.onDidReceiveMessage((message) => this.received(message));
    } else {
      this.panel.reveal(undefined, true);
    }
    await this.load();
  }

  /** Fetch the whole call tree, page by page, and send it to the webview. */
  async load() {
    const session = this.session;
    if (!session || !this.panel) {
      return;
    }
    try {
      const calls = [];
      let body;
      do {
        body = await session.customRequest('devsandbox/timeline', { start: calls.length, count: PAGE });
        calls.push(...body.calls);
      } while (calls.length < body.total && body.calls.length > 0);
      this.threadId = body.threadId;
      this.post({ type: 'calls', calls, steps: body.steps, threadId: body.threadId });
      await this.stopped(session);
    } catch (err) {
      this.post({ type: 'error', message: (err && err.message) || String(err) });
    }
  }

  /** A message from the webview: a jump. */
  async received(/** @type {any} */ message) {
    if (message.type === 'goto' && this.session && Number.isInteger(message.step)) {
      try {
        await this.session.customRequest('devsandbox/gotoStep',
          { threadId: this.threadId, step: message.step });
      } catch (err) {
        vscode.window.showErrorMessage(`DevSandbox: ${(err && err.message) || err}`);
      }
    }
  }

  /** The session stopped: show where it is in the recording. */
  async stopped(/** @type {vscode.DebugSession} */ session) {
    let position;
    try {
      position = await session.customRequest('devsandbox/position', {});
    } catch (err) {
      position = { inPast: false };
    }
    if (position.inPast) {
      this.status.text = `$(history) step ${position.step.toLocaleString()} of ${position.steps.toLocaleString()}`;
      this.status.show();
    } else {
      this.status.hide();
    }
    if (session === this.session) {
      this.post({ type: 'position', position });
    }
  }

  ended(/** @type {vscode.DebugSession} */ session) {
    if (session === this.session) {
      this.post({ type: 'ended' });
      this.session = undefined;
    }
    this.status.hide();
  }

  post(/** @type {any} */ message) {
    if (this.panel) {
      this.panel.webview.postMessage(message);
    }
  }

  html(/** @type {vscode.Webview} */ webview, /** @type {vscode.Uri} */ media) {
    const nonce = crypto.randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(media, 'timeline.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(media, 'timeline.css'));
    return `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${webview.cspSource}; script-src 'nonce-${nonce}';">
<link rel="stylesheet" href="${style}"><title>DevSandbox Timeline</title></head>
<body><div id="bar"><input id="scrubber" type="range" min="0" max="0" value="0" aria-label="step">
<span id="where">loading…</span></div><div id="calls" role="tree"></div>
<script nonce="${nonce}" src="${script}"></script></body></html>`;
  }

  dispose() {
    this.status.dispose();
    if (this.panel) {
      this.panel.dispose();
    }
  }
}

module.exports = { Timeline };
