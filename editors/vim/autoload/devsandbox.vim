" DevSandbox for Vim: the debug session and the commands.  `devsandbox dap` does the work
" (time travel included: stepBack, reverseContinue and devsandbox/* requests); this file
" sends requests and hands what comes back to the UI (autoload/devsandbox/ui.vim).

let s:save_cpo = &cpoptions
set cpoptions&vim

let s:session = {}     " the debug session: {dap, status, thread, frames, frame, scopes, ...}
let s:breakpoints = {} " {absolute path: {line: 1}}
let s:output = []      " the program's output and the adapter's messages
let s:lsp = {}         " the `devsandbox lsp` connection
let s:last_hover = []  " lines of the last hover shown

function! s:Error(message) abort
  echohl ErrorMsg | echomsg 'devsandbox: ' . a:message | echohl None
endfunction

function! s:Info(message) abort
  echomsg 'devsandbox: ' . a:message
endfunction

" ---- starting a session ---------------------------------------------------------------------

" :DevsandboxLaunch [args]: debug the current file, recorded for time travel.
function! devsandbox#Launch(...) abort
  let l:program = expand('%:p')
  if l:program ==# ''
    return s:Error('open the Python file to debug')
  endif
  let l:config = {'name': 'Vim: ' . expand('%:t'), 'program': l:program, 'args': copy(a:000),
        \ 'cwd': getcwd(), 'console': 'internalConsole', 'justMyCode': v:true,
        \ 'devsandbox': {'record': get(g:, 'devsandbox_record', 1) ? v:true : v:false}}
  call s:Start('launch', extend(l:config, get(g:, 'devsandbox_launch', {})))
endfunction

" :DevsandboxAttach [host:]port | pid N
function! devsandbox#Attach(...) abort
  let l:target = join(a:000)
  if l:target =~# '^pid\s\+\d\+$'
    let l:config = {'processId': str2nr(matchstr(l:target, '\d\+$'))}
  elseif l:target =~# '^\%(\S\+:\)\=\d\+$'
    let l:host = l:target =~# ':' ? matchstr(l:target, '^[^:]\+') : '127.0.0.1'
    let l:config = {'connect': {'host': l:host, 'port': str2nr(matchstr(l:target, '\d\+$'))}}
  else
    return s:Error('usage: :DevsandboxAttach [host:]port  or  :DevsandboxAttach pid N')
  endif
  call s:Start('attach', extend(extend(l:config, {'name': 'Vim: attach ' . l:target}),
        \ get(g:, 'devsandbox_attach', {})))
endfunction

" :DevsandboxReplay file.dsrec: step through a recording, post-mortem.
function! devsandbox#Replay(file) abort
  let l:file = fnamemodify(a:file, ':p')
  if !filereadable(l:file)
    return s:Error('no recording at ' . a:file)
  endif
  call s:Start('launch', {'name': 'Vim: replay', 'cwd': getcwd(),
        \ 'devsandbox': {'replay': l:file}})
endfunction

function! s:Start(request, config) abort
  if s:Active()
    call devsandbox#Stop()
  endif
  let s:output = []
  let s:session = {'status': 'starting', 'thread': 0, 'frames': [], 'frame': 0, 'stops': 0,
        \ 'past': 0,
        \ 'variables': [], 'description': '', 'capabilities': {},
        \ 'request': a:request, 'config': a:config}
  try
    let s:session.dap = devsandbox#channel#DapStart(function('s:OnEvent'),
          \ function('s:OnReverseRequest'))
  catch
    let s:session.status = 'ended'
    return s:Error(v:exception)
  endtry
  call devsandbox#channel#DapRequest(s:session.dap, 'initialize', {
        \ 'clientID': 'vim', 'clientName': 'Vim', 'adapterID': 'devsandbox',
        \ 'linesStartAt1': v:true, 'columnsStartAt1': v:true, 'pathFormat': 'path',
        \ 'supportsVariableType': v:true, 'supportsRunInTerminalRequest': v:false},
        \ function('s:OnInitialize'))
  call devsandbox#ui#Update(s:session)
endfunction

function! s:OnInitialize(response) abort
  if !a:response.success
    return s:Failed('initialize', a:response)
  endif
  let s:session.capabilities = get(a:response, 'body', {})
  call devsandbox#channel#DapRequest(s:session.dap, s:session.request, s:session.config,
        \ function('s:OnStarted'))
endfunction

function! s:OnStarted(response) abort
  if !a:response.success
    return s:Failed(s:session.request, a:response)
  endif
  if s:session.status ==# 'starting'
    let s:session.status = 'running'
  endif
  call devsandbox#ui#Update(s:session)
endfunction

function! s:Failed(what, response) abort
  call s:Error(a:what . ' failed: ' . get(a:response, 'message', ''))
  call devsandbox#Stop()
endfunction

" The adapter's reverse requests (runInTerminal, startDebugging): not supported here.
function! s:OnReverseRequest(request) abort
  call devsandbox#channel#DapRespond(s:session.dap, a:request, 0, {})
endfunction

" ---- events ---------------------------------------------------------------------------------

function! s:OnEvent(event) abort
  let l:name = get(a:event, 'event', '')
  let l:body = get(a:event, 'body', {})
  let l:body = type(l:body) == v:t_dict ? l:body : {}
  if l:name ==# 'initialized'
    for l:file in keys(s:breakpoints)
      call s:SendBreakpoints(l:file)
    endfor
    call devsandbox#channel#DapRequest(s:session.dap, 'setExceptionBreakpoints', {'filters': []})
    call devsandbox#channel#DapRequest(s:session.dap, 'configurationDone', {})
  elseif l:name ==# 'stopped'
    let s:session.status = 'stopped'
    let s:session.stops += 1
    let s:session.loading = 1
    let s:session.thread = get(l:body, 'threadId', s:session.thread)
    let s:session.description = get(l:body, 'description', get(l:body, 'reason', ''))
    call s:FetchStack()
    if s:Supports('devsandbox/position')
      call devsandbox#channel#DapRequest(s:session.dap, 'devsandbox/position', {},
            \ function('s:OnPosition'))
    endif
  elseif l:name ==# 'continued'
    let s:session.status = 'running'
    let s:session.frames = []
    call devsandbox#ui#Update(s:session)
  elseif l:name ==# 'output'
    call extend(s:output, split(get(l:body, 'output', ''), "\n"))
  elseif l:name =~# '^\%(terminated\|exited\|adapterExited\)$'
    if get(s:session, 'status', 'ended') !=# 'ended'
      let s:session.status = 'ended'
      call devsandbox#ui#Update(s:session)
      call devsandbox#channel#DapStop(s:session.dap)
    endif
  endif
endfunction

function! s:Supports(request) abort
  let l:ours = get(get(s:session, 'capabilities', {}), 'devsandbox', {})
  return index(get(l:ours, 'requests', []), a:request) >= 0
endfunction

" In the recorded past, or live?
function! s:OnPosition(response) abort
  let s:session.past = a:response.success && get(a:response.body, 'inPast', v:false)
  call devsandbox#ui#Update(s:session)
endfunction

function! s:FetchStack() abort
  call devsandbox#channel#DapRequest(s:session.dap, 'stackTrace',
        \ {'threadId': s:session.thread, 'startFrame': 0, 'levels': 50}, function('s:OnStack'))
endfunction

function! s:OnStack(response) abort
  let s:session.frames = a:response.success ? a:response.body.stackFrames : []
  call devsandbox#SelectFrame(0)
endfunction

" Show frame N of the stack: its line, its first scope's variables.
function! devsandbox#SelectFrame(index) abort
  if empty(s:session.frames)
    let s:session.variables = []
    let s:session.loading = 0
    return devsandbox#ui#Update(s:session)
  endif
  let s:session.frame = min([a:index, len(s:session.frames) - 1])
  let s:session.loading = 1
  let l:frame = s:session.frames[s:session.frame]
  call devsandbox#channel#DapRequest(s:session.dap, 'scopes', {'frameId': l:frame.id},
        \ function('s:OnScopes'))
endfunction

function! s:OnScopes(response) abort
  let l:scopes = a:response.success ? a:response.body.scopes : []
  if empty(l:scopes)
    let s:session.variables = []
    let s:session.loading = 0
    return devsandbox#ui#Update(s:session)
  endif
  let s:session.scope = l:scopes[0].name
  call devsandbox#channel#DapRequest(s:session.dap, 'variables',
        \ {'variablesReference': l:scopes[0].variablesReference}, function('s:OnVariables'))
endfunction

function! s:OnVariables(response) abort
  let s:session.variables = a:response.success ? a:response.body.variables : []
  let s:session.loading = 0
  call devsandbox#ui#Update(s:session)
endfunction

" ---- commands on a session ------------------------------------------------------------------

function! s:Active() abort
  return !empty(s:session) && s:session.status !=# 'ended'
endfunction

function! s:Stopped() abort
  if !s:Active() || s:session.status !=# 'stopped'
    call s:Error(s:Active() ? 'the program is running' : 'no debug session')
    return 0
  endif
  return 1
endfunction

" continue, next, stepIn, stepOut, stepBack, reverseContinue, devsandbox/stepBackIn|Out
function! devsandbox#Step(command) abort
  if !s:Stopped()
    return
  endif
  if a:command =~# 'Back\|reverse' && !get(s:session.capabilities, 'supportsStepBack', 0)
    return s:Error('this debug adapter cannot step back')
  endif
  call devsandbox#channel#DapRequest(s:session.dap, a:command,
        \ {'threadId': s:session.thread}, function('s:OnStepped', [a:command, s:session.stops]))
endfunction

function! s:OnStepped(command, stops, response) abort
  if !a:response.success
    call s:Error(a:command . ': ' . get(a:response, 'message', ''))
  elseif s:session.stops == a:stops && s:session.status ==# 'stopped'
    " running until the next stopped event (unless it came before this response)
    let s:session.status = 'running'
    let s:session.frames = []
    call devsandbox#ui#Update(s:session)
  endif
endfunction

function! devsandbox#Pause() abort
  if s:Active()
    call devsandbox#channel#DapRequest(s:session.dap, 'pause', {'threadId': s:session.thread})
  endif
endfunction

function! devsandbox#Stop() abort
  if empty(s:session) || !has_key(s:session, 'dap')
    return
  endif
  let l:dap = s:session.dap
  if ch_status(get(l:dap, 'channel', '')) ==# 'open' && s:session.status !=# 'ended'
    call devsandbox#channel#DapRequest(l:dap, 'disconnect', {'terminateDebuggee': v:true},
          \ {response -> devsandbox#channel#DapStop(l:dap)})
    call timer_start(3000, {timer -> devsandbox#channel#DapStop(l:dap)})
  endif
  let s:session.status = 'ended'
  call devsandbox#ui#Update(s:session)
endfunction

" ---- breakpoints ----------------------------------------------------------------------------

function! devsandbox#ToggleBreakpoint() abort
  let l:file = expand('%:p')
  let l:line = line('.')
  let l:lines = get(s:breakpoints, l:file, {})
  if has_key(l:lines, l:line)
    call remove(l:lines, l:line)
  else
    let l:lines[l:line] = 1
  endif
  let s:breakpoints[l:file] = l:lines
  call devsandbox#ui#Breakpoints(l:file, keys(l:lines))
  if s:Active() && s:session.status !=# 'starting'
    call s:SendBreakpoints(l:file)
  endif
endfunction

function! devsandbox#ClearBreakpoints() abort
  for l:file in keys(s:breakpoints)
    let s:breakpoints[l:file] = {}
    call devsandbox#ui#Breakpoints(l:file, [])
    if s:Active()
      call s:SendBreakpoints(l:file)
    endif
  endfor
endfunction

function! s:SendBreakpoints(file) abort
  let l:lines = sort(map(keys(get(s:breakpoints, a:file, {})), 'str2nr(v:val)'), 'n')
  call devsandbox#channel#DapRequest(s:session.dap, 'setBreakpoints', {
        \ 'source': {'path': a:file, 'name': fnamemodify(a:file, ':t')},
        \ 'breakpoints': map(l:lines, '{"line": v:val}')})
endfunction

" ---- time travel and evaluation ---------------------------------------------------------------

function! s:Expression(args) abort
  return a:args !=# '' ? a:args : expand('<cexpr>')
endfunction

function! s:FrameArgs() abort
  let l:args = {'threadId': s:session.thread}
  if !empty(s:session.frames)
    let l:args.frameId = s:session.frames[s:session.frame].id
  endif
  return l:args
endfunction

" :DevsandboxValueHistory [expr]: every value the expression took, in the quickfix list.
function! devsandbox#ValueHistory(args) abort
  if !s:Stopped()
    return
  endif
  let l:expression = s:Expression(a:args)
  call devsandbox#channel#DapRequest(s:session.dap, 'devsandbox/valueHistory',
        \ extend({'expression': l:expression}, s:FrameArgs()),
        \ function('s:OnValueHistory', [l:expression]))
endfunction

function! s:OnValueHistory(expression, response) abort
  if !a:response.success
    return s:Error(get(a:response, 'message', 'valueHistory failed'))
  endif
  let l:items = []
  for l:change in a:response.body.changes
    call add(l:items, {'filename': l:change.file, 'lnum': l:change.line,
          \ 'text': printf('step %d: %s = %s  (%s)', l:change.step, a:expression,
          \                l:change.value, l:change.function)})
  endfor
  call setqflist([], ' ', {'title': 'devsandbox: history of ' . a:expression, 'items': l:items})
  let s:session.history = l:items
  call s:Info(printf('%s changed %d times (:copen)', a:expression, len(l:items)))
endfunction

" :DevsandboxLastWrite [expr]: go back to where the expression got its value.
function! devsandbox#LastWrite(args) abort
  if !s:Stopped()
    return
  endif
  let l:expression = s:Expression(a:args)
  call devsandbox#channel#DapRequest(s:session.dap, 'devsandbox/lastWrite',
        \ extend({'expression': l:expression, 'goto': v:true}, s:FrameArgs()),
        \ function('s:OnLastWrite', [l:expression]))
endfunction

function! s:OnLastWrite(expression, response) abort
  if !a:response.success
    return s:Error(get(a:response, 'message', 'lastWrite failed'))
  endif
  let l:body = a:response.body
  if !l:body.found
    return s:Info(get(l:body, 'message', a:expression . ' never changed'))
  endif
  call s:Info(printf('%s became %s (was %s) at line %d, step %d', a:expression,
        \ l:body.new, l:body.old, l:body.line, l:body.step))
endfunction

" :DevsandboxEval expr: evaluate in the selected frame (in the past too).
function! devsandbox#Evaluate(args) abort
  if !s:Stopped()
    return
  endif
  let l:args = s:FrameArgs()
  call devsandbox#channel#DapRequest(s:session.dap, 'evaluate', {'expression': a:args,
        \ 'frameId': get(l:args, 'frameId', 0), 'context': 'repl'},
        \ {r -> r.success ? s:Info(a:args . ' = ' . r.body.result)
        \                 : s:Error(get(r, 'message', ''))})
endfunction

" ---- hover (the language server) ----------------------------------------------------------------

" Start `devsandbox lsp` for the Python buffers (once), tell it about this buffer.
function! devsandbox#LspAttach() abort
  if &filetype !=# 'python' || expand('%:p') ==# '' || !get(g:, 'devsandbox_lsp', 1)
    return
  endif
  if empty(s:lsp)
    try
      let s:lsp = devsandbox#channel#LspStart(getcwd(), function('s:OnLspNotification'))
    catch
      let s:lsp = {}
      return s:Error(v:exception)
    endtry
  endif
  call s:LspSync()
endfunction

" didOpen the first time, didChange (whole text) when the buffer changed since.
function! s:LspSync() abort
  let l:uri = devsandbox#channel#Uri(expand('%:p'))
  let l:text = join(getline(1, '$'), "\n") . "\n"
  if !exists('b:devsandbox_lsp_tick')
    call devsandbox#channel#LspSend(s:lsp, 'textDocument/didOpen', {'textDocument': {
          \ 'uri': l:uri, 'languageId': 'python', 'version': b:changedtick, 'text': l:text}})
  elseif b:devsandbox_lsp_tick != b:changedtick
    call devsandbox#channel#LspSend(s:lsp, 'textDocument/didChange', {
          \ 'textDocument': {'uri': l:uri, 'version': b:changedtick},
          \ 'contentChanges': [{'text': l:text}]})
  endif
  let b:devsandbox_lsp_tick = b:changedtick
endfunction

function! s:OnLspNotification(message) abort
  if a:message.method ==# 'window/showMessage'
    call s:Info(a:message.params.message)
  endif
endfunction

" :DevsandboxHover: the value under the cursor, from the language server, in a popup.
function! devsandbox#Hover() abort
  if empty(s:lsp)
    call devsandbox#LspAttach()
    if empty(s:lsp)
      return
    endif
  endif
  call s:LspSync()
  call devsandbox#channel#LspSend(s:lsp, 'textDocument/hover', {
        \ 'textDocument': {'uri': devsandbox#channel#Uri(expand('%:p'))},
        \ 'position': {'line': line('.') - 1, 'character': charcol('.') - 1}},
        \ function('s:OnHover'))
endfunction

function! s:OnHover(channel, reply) abort
  let l:result = get(a:reply, 'result', v:null)
  if type(l:result) != v:t_dict
    let s:last_hover = []
    return s:Info('nothing to show here')
  endif
  let l:contents = l:result.contents
  let l:text = type(l:contents) == v:t_dict ? l:contents.value : string(l:contents)
  " markdown, shown as text: no fences, links as their text, no backticks
  let s:last_hover = map(filter(split(l:text, "\n"), 'v:val !~# "^```"'),
        \ 'substitute(substitute(v:val, ''\[\([^]]*\)\]([^)]*)'', ''\1'', "g"), "`", "", "g")')
  call devsandbox#ui#Popup(s:last_hover)
endfunction

function! devsandbox#LspStop() abort
  if !empty(s:lsp)
    call devsandbox#channel#LspStop(s:lsp)
    let s:lsp = {}
  endif
endfunction

" ---- state, for the UI, statuslines and scripts -------------------------------------------------

function! devsandbox#Status() abort
  return {'status': get(s:session, 'status', 'none'), 'loading': get(s:session, 'loading', 0),
        \ 'past': get(s:session, 'past', 0),
        \ 'description': get(s:session, 'description', ''),
        \ 'frames': get(s:session, 'frames', []), 'variables': get(s:session, 'variables', []),
        \ 'breakpoints': deepcopy(s:breakpoints), 'hover': copy(s:last_hover),
        \ 'history': get(s:session, 'history', []), 'lsp': !empty(s:lsp) && s:lsp.ready}
endfunction

function! devsandbox#Output() abort
  call devsandbox#ui#Output(s:output)
endfunction

function! devsandbox#ToggleWindow() abort
  call devsandbox#ui#ToggleWindow(s:session)
endfunction

let &cpoptions = s:save_cpo
unlet s:save_cpo
