// The timeline webview: renders the call tree and the scrubber the extension sends, and
// posts {type: 'goto', step} back when a call is clicked or the scrubber is released.
(function () {
  'use strict';
  const vscode = acquireVsCodeApi();
  const scrubber = document.getElementById('scrubber');
  const where = document.getElementById('where');
  const list = document.getElementById('calls');
  let calls = [];
  let steps = 0;

  function base(file) {
    return String(file || '').split(/[\\/]/).pop();
  }

  function render() {
    list.textContent = '';
    for (const call of calls) {
      const row = document.createElement('div');
      row.className = 'call' + (call.exception ? ' raised' : '');
      row.style.paddingLeft = (call.depth * 14 + 6) + 'px';
      row.setAttribute('role', 'treeitem');
      row.dataset.start = call.startStep;
      row.dataset.end = call.endStep === null ? steps : call.endStep;
      const end = call.endStep === null ? '…' : call.endStep.toLocaleString();
      row.title = 'Go to step ' + call.startStep.toLocaleString();
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = call.function;
      const info = document.createElement('span');
      info.className = 'info';
      info.textContent = base(call.file) + ':' + call.line + '  steps ' +
        call.startStep.toLocaleString() + '–' + end +
        (call.exception ? '  raised ' + (call.exception.type || '') : '');
      row.append(name, info);
      row.addEventListener('click', () => vscode.postMessage({ type: 'goto', step: call.startStep }));
      list.append(row);
    }
  }

  function mark(step) {
    let current = null;
    for (const row of list.children) {
      row.classList.remove('current');
      if (Number(row.dataset.start) <= step && step <= Number(row.dataset.end)) {
        current = row;  // the innermost call holding the step comes last
      }
    }
    if (current) {
      current.classList.add('current');
      current.scrollIntoView({ block: 'nearest' });
    }
  }

  scrubber.addEventListener('input', () => {
    where.textContent = 'step ' + Number(scrubber.value).toLocaleString() + ' of ' + steps.toLocaleString();
  });
  scrubber.addEventListener('change', () => vscode.postMessage({ type: 'goto', step: Number(scrubber.value) }));

  window.addEventListener('message', (event) => {
    const message = event.data;
    if (message.type === 'calls') {
      calls = message.calls;
      steps = message.steps;
      scrubber.min = String(calls.length ? calls[0].startStep : 0);
      scrubber.max = String(Math.max(0, steps - 1));
      where.textContent = calls.length.toLocaleString() + ' calls, ' + steps.toLocaleString() + ' steps';
      render();
    } else if (message.type === 'position') {
      const pos = message.position;
      if (pos.inPast) {
        scrubber.value = String(pos.step);
        where.textContent = 'step ' + pos.step.toLocaleString() + ' of ' + pos.steps.toLocaleString() +
          ' · ' + base(pos.file) + ':' + pos.line;
        mark(pos.step);
      } else {
        scrubber.value = scrubber.max;
        where.textContent = 'at the live point · ' + steps.toLocaleString() + ' steps recorded';
      }
    } else if (message.type === 'error') {
      where.textContent = message.message;
    } else if (message.type === 'ended') {
      where.textContent = 'the debug session ended';
      scrubber.disabled = true;
    }
  });
}());
