" The Vim plugin (editors/vim) in Vim 9, headless: a breakpoint, :DevsandboxLaunch (recorded),
" continue to the 4th time round the loop, :DevsandboxStepBack twice, the session window, a
" hover popup from `devsandbox lsp', the value history, :DevsandboxStop.
"   vim -Nu NONE -i NONE -es -S vim_client.vim
" Environment: DSB_PLUGIN, DSB_PYTHON, DSB_FILE, DSB_LINE (1-based), DSB_OUT (JSON written).
let &runtimepath = $DSB_PLUGIN . ',' . &runtimepath
filetype on
runtime plugin/devsandbox.vim
let g:devsandbox_python = $DSB_PYTHON
let g:devsandbox_launch = {'python': $DSB_PYTHON}
let s:line = str2nr($DSB_LINE)
let s:report = {'steps': []}

function! s:Note(name, ok) abort
  let l:status = devsandbox#Status()
  let l:window = bufnr('devsandbox://session') > 0 ? getbufline('devsandbox://session', 1, '$') : []
  call add(s:report.steps, {'name': a:name, 'ok': a:ok ? v:true : v:false,
        \ 'status': l:status.status, 'description': l:status.description,
        \ 'line': empty(l:status.frames) ? 0 : l:status.frames[0].line,
        \ 'variables': map(copy(l:status.variables), 'v:val.name . " = " . v:val.value'),
        \ 'window': l:window, 'hover': l:status.hover,
        \ 'signs': map(sign_getplaced(bufnr($DSB_FILE), {'group': '*'})[0].signs,
        \              'v:val.name . ":" . v:val.lnum'),
        \ 'time': reltimefloat(reltime(s:start))})
endfunction

" Poll until the expression (over devsandbox#Status(), as `s`) holds; callbacks run in :sleep.
function! s:Wait(condition, ms) abort
  let l:waited = 0
  while l:waited < a:ms
    let s = devsandbox#Status()
    if eval(a:condition)
      return 1
    endif
    sleep 50m
    let l:waited += 50
  endwhile
  let s = devsandbox#Status()
  return eval(a:condition)
endfunction

function! s:Has(variable) abort
  return 'index(map(copy(s.variables), "v:val.name . \" = \" . v:val.value"), "' . a:variable . '") >= 0'
endfunction

let s:stopped_at = 's.status ==# "stopped" && !s.loading && !empty(s.frames) && s.frames[0].line == '

let s:start = reltime()
try
  execute 'edit ' . fnameescape($DSB_FILE)
  call cursor(s:line, 1)
  DevsandboxBreakpoint
  call s:Note('breakpoint', index(map(sign_getplaced(bufnr('%'), {'group': 'devsandbox'})[0].signs,
        \ 'v:val.lnum'), s:line) >= 0)

  DevsandboxLaunch
  call s:Note('stopped', s:Wait(s:stopped_at . s:line . ' && ' . s:Has('i = 0'), 60000))

  for s:hit in range(1, 3)
    DevsandboxContinue
    let s:ok = s:Wait(s:stopped_at . s:line . ' && ' . s:Has('i = ' . s:hit), 20000)
  endfor
  call s:Note('continued', s:ok)

  DevsandboxStepBack
  call s:Note('step back 1', s:Wait(s:stopped_at . (s:line - 1) . ' && ' . s:Has('total = 3'), 20000))
  DevsandboxStepBack
  call s:Note('step back 2', s:Wait(s:stopped_at . s:line . ' && ' . s:Has('i = 2'), 20000))

  " hover `total' on the current line: the language server's value at this step
  call cursor(s:line, match(getline(s:line), '\<total\>') + 2)
  let s:ok = 0
  for s:attempt in range(20)
    DevsandboxHover
    if s:Wait('!empty(s.hover) && join(s.hover) =~# "total"', 1000)
      let s:ok = 1
      break
    endif
  endfor
  call s:Note('hover', s:ok)
  let s:report.popups = map(popup_list(), 'getbufline(winbufnr(v:val), 1, "$")')

  DevsandboxValueHistory total
  call s:Wait('!empty(s.history)', 10000)
  let s:report.history = map(devsandbox#Status().history, 'v:val.text')

  DevsandboxStop
  call s:Note('ended', s:Wait('s.status ==# "ended"', 10000))
catch
  let s:report.error = v:exception . ' at ' . v:throwpoint
endtry
let s:report.messages = execute('messages')
call writefile([json_encode(s:report)], $DSB_OUT)
call devsandbox#LspStop()
sleep 300m
qa!
