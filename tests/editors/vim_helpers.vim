" Helpers of the Vim client scripts (vim_client.vim, vim_replay.vim): notes for the JSON
" report and bounded waits on devsandbox#Status().
let &runtimepath = $DSB_PLUGIN . ',' . &runtimepath
filetype on
runtime plugin/devsandbox.vim
let g:devsandbox_python = $DSB_PYTHON
let g:devsandbox_launch = {'python': $DSB_PYTHON}
let g:dsb_line = str2nr($DSB_LINE)
let g:dsb_report = {'steps': []}

function! DsbNote(name, ok) abort
  let l:status = devsandbox#Status()
  let l:window = bufnr('devsandbox://session') > 0 ? getbufline('devsandbox://session', 1, '$') : []
  call add(g:dsb_report.steps, {'name': a:name, 'ok': a:ok ? v:true : v:false,
        \ 'status': l:status.status, 'description': l:status.description,
        \ 'line': empty(l:status.frames) ? 0 : l:status.frames[0].line,
        \ 'variables': map(copy(l:status.variables), 'v:val.name . " = " . v:val.value'),
        \ 'window': l:window, 'hover': l:status.hover,
        \ 'signs': map(sign_getplaced(bufnr($DSB_FILE), {'group': '*'})[0].signs,
        \              'v:val.name . ":" . v:val.lnum'),
        \ 'time': reltimefloat(reltime(g:dsb_start))})
endfunction

" Poll until the expression (over devsandbox#Status(), as `s`) holds; callbacks run in :sleep.
function! DsbWait(condition, ms) abort
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

function! DsbHas(variable) abort
  return 'index(map(copy(s.variables), "v:val.name . \" = \" . v:val.value"), "' . a:variable . '") >= 0'
endfunction

let g:dsb_stopped_at = 's.status ==# "stopped" && !s.loading && !empty(s.frames) && s.frames[0].line == '


function! DsbFinish() abort
  let g:dsb_report.messages = execute('messages')
  call writefile([json_encode(g:dsb_report)], $DSB_OUT)
  call devsandbox#LspStop()
  sleep 300m
  qa!
endfunction

let g:dsb_start = reltime()
