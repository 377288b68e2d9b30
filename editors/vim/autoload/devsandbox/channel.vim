" DevSandbox: the two channels, `devsandbox dap` and `devsandbox lsp`, both in Vim's 'lsp'
" channel mode (Content-Length framing, JSON decoding).
"
" DAP has no JSON-RPC ids: every DAP request is sent as a 'notification' (ch_sendexpr without
" a callback, so Vim adds only "jsonrpc": "2.0", which the adapter ignores), and every DAP
" response and event arrives in the channel callback, matched here by request_seq.
" LSP requests use Vim's own id matching (ch_sendexpr with a callback).

let s:save_cpo = &cpoptions
set cpoptions&vim

function! s:ServerCommand(subcommand) abort
  let l:cmd = [get(g:, 'devsandbox_python', 'python3'), '-m', 'devsandbox']
  if get(g:, 'devsandbox_log_file', '') !=# ''
    let l:cmd += ['--log-file', g:devsandbox_log_file]
  endif
  return l:cmd + [a:subcommand]
endfunction

" ---- DAP ----------------------------------------------------------------------------------

" A DAP connection: {job, channel, seq, pending: {seq: callback}, on_event: funcref,
" on_request: funcref}.
function! devsandbox#channel#DapStart(on_event, on_request) abort
  let l:dap = {'seq': 0, 'pending': {}, 'on_event': a:on_event, 'on_request': a:on_request}
  let l:dap.job = job_start(s:ServerCommand('dap'), {
        \ 'in_mode': 'lsp', 'out_mode': 'lsp', 'err_io': 'null', 'noblock': 1,
        \ 'callback': function('s:DapMessage', [l:dap]),
        \ 'exit_cb': function('s:DapExit', [l:dap])})
  if job_status(l:dap.job) !=# 'run'
    throw 'devsandbox: cannot start ' . join(s:ServerCommand('dap'))
  endif
  let l:dap.channel = job_getchannel(l:dap.job)
  return l:dap
endfunction

" Send a DAP request; a:Callback(response) gets the response (success or not).
function! devsandbox#channel#DapRequest(dap, command, arguments, ...) abort
  if !has_key(a:dap, 'channel') || ch_status(a:dap.channel) !=# 'open'
    throw 'devsandbox: the debug adapter is not running'
  endif
  let a:dap.seq += 1
  if a:0 > 0
    let a:dap.pending[a:dap.seq] = a:1
  endif
  call ch_sendexpr(a:dap.channel, {'seq': a:dap.seq, 'type': 'request',
        \ 'command': a:command, 'arguments': a:arguments})
  return a:dap.seq
endfunction

" Answer a reverse request of the adapter.
function! devsandbox#channel#DapRespond(dap, request, success, body) abort
  let a:dap.seq += 1
  call ch_sendexpr(a:dap.channel, {'seq': a:dap.seq, 'type': 'response',
        \ 'request_seq': a:request.seq, 'command': a:request.command,
        \ 'success': a:success ? v:true : v:false, 'body': a:body})
endfunction

function! devsandbox#channel#DapStop(dap) abort
  if has_key(a:dap, 'job') && job_status(a:dap.job) ==# 'run'
    call job_stop(a:dap.job)
  endif
endfunction

function! s:DapMessage(dap, channel, message) abort
  if type(a:message) != v:t_dict
    return
  endif
  let l:type = get(a:message, 'type', '')
  if l:type ==# 'response'
    let l:seq = get(a:message, 'request_seq', -1)
    if has_key(a:dap.pending, l:seq)
      call remove(a:dap.pending, l:seq)(a:message)
    elseif !get(a:message, 'success', v:true)
      echohl ErrorMsg | echomsg 'devsandbox: ' . get(a:message, 'message', '') | echohl None
    endif
  elseif l:type ==# 'event'
    call a:dap.on_event(a:message)
  elseif l:type ==# 'request'
    call a:dap.on_request(a:message)
  endif
endfunction

function! s:DapExit(dap, job, status) abort
  call a:dap.on_event({'type': 'event', 'event': 'adapterExited', 'body': {'status': a:status}})
endfunction

" ---- LSP ----------------------------------------------------------------------------------

" An LSP connection: {job, channel, ready, queue: [messages sent before initialize returned]}.
function! devsandbox#channel#LspStart(root, on_notification) abort
  let l:lsp = {'ready': 0, 'queue': [], 'on_notification': a:on_notification}
  let l:lsp.job = job_start(s:ServerCommand('lsp'), {
        \ 'in_mode': 'lsp', 'out_mode': 'lsp', 'err_io': 'null', 'noblock': 1,
        \ 'callback': function('s:LspMessage', [l:lsp])})
  if job_status(l:lsp.job) !=# 'run'
    throw 'devsandbox: cannot start ' . join(s:ServerCommand('lsp'))
  endif
  let l:lsp.channel = job_getchannel(l:lsp.job)
  let l:uri = devsandbox#channel#Uri(a:root)
  call ch_sendexpr(l:lsp.channel, {'method': 'initialize', 'params': {
        \ 'processId': getpid(), 'rootUri': l:uri, 'clientInfo': {'name': 'vim-devsandbox'},
        \ 'workspaceFolders': [{'uri': l:uri, 'name': fnamemodify(a:root, ':t')}],
        \ 'capabilities': {'textDocument': {'hover': {'contentFormat': ['plaintext', 'markdown']}},
        \                  'window': {'showMessage': {}}}}},
        \ {'callback': function('s:LspInitialized', [l:lsp])})
  return l:lsp
endfunction

function! s:LspInitialized(lsp, channel, reply) abort
  call ch_sendexpr(a:channel, {'method': 'initialized', 'params': {}})
  let a:lsp.ready = 1
  for l:message in remove(a:lsp.queue, 0, -1)
    call call('devsandbox#channel#LspSend', [a:lsp] + l:message)
  endfor
endfunction

" A notification, or a request when a callback is given; queued until the server is ready.
function! devsandbox#channel#LspSend(lsp, method, params, ...) abort
  if !a:lsp.ready
    call add(a:lsp.queue, [a:method, a:params] + a:000)
    return
  endif
  if ch_status(a:lsp.channel) !=# 'open'
    return
  endif
  let l:message = {'method': a:method, 'params': a:params}
  if a:0 > 0
    call ch_sendexpr(a:lsp.channel, l:message, {'callback': a:1})
  else
    call ch_sendexpr(a:lsp.channel, l:message)
  endif
endfunction

function! devsandbox#channel#LspStop(lsp) abort
  if ch_status(a:lsp.channel) ==# 'open'
    call ch_evalexpr(a:lsp.channel, {'method': 'shutdown'}, {'timeout': 2000})
    call ch_sendexpr(a:lsp.channel, {'method': 'exit'})
  endif
  if job_status(a:lsp.job) ==# 'run'
    call job_stop(a:lsp.job)
  endif
endfunction

" Notifications and requests from the server (replies to ours go to their callbacks).
function! s:LspMessage(lsp, channel, message) abort
  if type(a:message) != v:t_dict || !has_key(a:message, 'method')
    return
  endif
  if has_key(a:message, 'id')
    " refresh requests, registrations, progress: accepted, nothing to do
    call ch_sendexpr(a:channel, {'id': a:message.id, 'result': v:null})
  else
    call a:lsp.on_notification(a:message)
  endif
endfunction

function! devsandbox#channel#Uri(path) abort
  let l:path = substitute(fnamemodify(a:path, ':p'), '.\zs/$', '', '')
  return 'file://' . substitute(l:path, '[^A-Za-z0-9/._~-]\+', '\=s:Escape(submatch(0))', 'g')
endfunction

function! s:Escape(text) abort
  let l:out = ''
  for l:i in range(strlen(a:text))
    let l:out .= printf('%%%02X', char2nr(a:text[l:i]))
  endfor
  return l:out
endfunction

let &cpoptions = s:save_cpo
unlet s:save_cpo
