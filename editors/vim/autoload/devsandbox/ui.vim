" DevSandbox for Vim: signs (breakpoints, the current line), the session window (stack and
" variables), popups.

let s:save_cpo = &cpoptions
set cpoptions&vim

let s:group = 'devsandbox'
let s:window_name = 'devsandbox://session'

function! s:DefineSigns() abort
  if !empty(sign_getdefined('DevsandboxBreakpoint'))
    return
  endif
  let l:utf8 = &encoding ==# 'utf-8'
  call sign_define('DevsandboxBreakpoint', {'text': l:utf8 ? '●' : 'B',
        \ 'texthl': 'DevsandboxBreakpoint'})
  call sign_define('DevsandboxPC', {'text': l:utf8 ? '▶' : '>',
        \ 'texthl': 'DevsandboxPC', 'linehl': 'DevsandboxPCLine'})
  call sign_define('DevsandboxPast', {'text': l:utf8 ? '◀' : '<',
        \ 'texthl': 'DevsandboxPast', 'linehl': 'DevsandboxPastLine'})
endfunction

" The breakpoint signs of a file.
function! devsandbox#ui#Breakpoints(file, lines) abort
  call s:DefineSigns()
  let l:buf = bufadd(a:file)
  call sign_unplace(s:group, {'buffer': l:buf})
  for l:line in a:lines
    call sign_place(0, s:group, 'DevsandboxBreakpoint', l:buf, {'lnum': l:line, 'priority': 20})
  endfor
endfunction

" Show the session: the current line (a sign, and the cursor), the session window.
function! devsandbox#ui#Update(session) abort
  call s:DefineSigns()
  call sign_unplace(s:group . '-pc')
  let l:frames = get(a:session, 'frames', [])
  if get(a:session, 'status', '') ==# 'stopped' && !empty(l:frames)
    let l:frame = l:frames[get(a:session, 'frame', 0)]
    let l:path = get(get(l:frame, 'source', {}), 'path', '')
    if l:path !=# '' && filereadable(l:path)
      call s:Show(l:path, l:frame.line, get(a:session, 'past', 0) ? 'DevsandboxPast' : 'DevsandboxPC')
    endif
  endif
  if get(g:, 'devsandbox_window', 1) || bufwinnr(s:window_name) > 0
    call s:Window(a:session)
  endif
endfunction

" Put the sign on the line and the cursor of the code window there.
function! s:Show(path, line, sign) abort
  let l:buf = bufadd(a:path)
  call bufload(l:buf)
  call sign_place(0, s:group . '-pc', a:sign, l:buf, {'lnum': a:line, 'priority': 30})
  let l:win = bufwinid(l:buf)
  if l:win == -1
    let l:win = s:CodeWindow()
    call win_execute(l:win, 'buffer ' . l:buf)
  endif
  call win_execute(l:win, 'call cursor(' . a:line . ', 1) | normal! zv')
endfunction

" A window that is not the session window (the previous one, else the first other).
function! s:CodeWindow() abort
  let l:session = bufwinid(s:window_name)
  for l:win in [win_getid(winnr('#')), win_getid()] + map(range(1, winnr('$')), 'win_getid(v:val)')
    if l:win != 0 && l:win != l:session && getwinvar(l:win, '&buftype') ==# ''
      return l:win
    endif
  endfor
  return win_getid()
endfunction

" The session window: the stack (the selected frame marked) and the variables.
function! s:Window(session) abort
  let l:buf = bufnr(s:window_name)
  if l:buf == -1 || bufwinnr(l:buf) == -1
    let l:here = win_getid()
    execute 'silent botright vertical ' . get(g:, 'devsandbox_window_width', 45) . 'new ' . s:window_name
    setlocal buftype=nofile bufhidden=hide noswapfile nobuflisted nowrap nonumber
    setlocal filetype=devsandbox winfixwidth
    nnoremap <buffer> <silent> <CR> :call devsandbox#SelectFrame(get(b:devsandbox_rows, line('.'), 0))<CR>
    let l:buf = bufnr('%')
    call win_gotoid(l:here)
  endif
  let [l:lines, l:rows] = s:Render(a:session)
  call setbufvar(l:buf, 'devsandbox_rows', l:rows)
  call setbufvar(l:buf, '&modifiable', 1)
  call deletebufline(l:buf, 1, '$')
  call setbufline(l:buf, 1, l:lines)
  call setbufvar(l:buf, '&modifiable', 0)
endfunction

function! s:Render(session) abort
  let l:status = get(a:session, 'status', 'none')
  let l:lines = ['DevSandbox: ' . l:status .
        \ (get(a:session, 'description', '') !=# '' && l:status ==# 'stopped'
        \  ? ' (' . a:session.description . ')' : '')]
  let l:rows = {}
  if l:status !=# 'stopped'
    return [l:lines, l:rows]
  endif
  call add(l:lines, '')
  call add(l:lines, 'Stack')
  let l:index = 0
  for l:frame in get(a:session, 'frames', [])
    let l:file = fnamemodify(get(get(l:frame, 'source', {}), 'path', '?'), ':t')
    call add(l:lines, printf('%s %-20s %s:%d', l:index == a:session.frame ? '>' : ' ',
          \ l:frame.name, l:file, l:frame.line))
    let l:rows[len(l:lines)] = l:index
    let l:index += 1
  endfor
  call add(l:lines, '')
  call add(l:lines, get(a:session, 'scope', 'Variables'))
  for l:var in get(a:session, 'variables', [])
    call add(l:lines, '  ' . l:var.name . ' = ' . l:var.value)
  endfor
  return [l:lines, l:rows]
endfunction

function! devsandbox#ui#ToggleWindow(session) abort
  let l:win = bufwinid(s:window_name)
  if l:win != -1
    call win_execute(l:win, 'close')
  else
    call s:Window(a:session)
  endif
endfunction

" A popup at the cursor (hover), closed when the cursor moves.
function! devsandbox#ui#Popup(lines) abort
  if empty(a:lines)
    return
  endif
  call popup_atcursor(a:lines, {'border': [], 'padding': [0, 1, 0, 1], 'maxwidth': 80,
        \ 'moved': 'any', 'highlight': 'Pmenu'})
endfunction

function! devsandbox#ui#Output(lines) abort
  execute 'silent botright 10new devsandbox://output'
  setlocal buftype=nofile bufhidden=wipe noswapfile nobuflisted
  call setline(1, a:lines)
endfunction

let &cpoptions = s:save_cpo
unlet s:save_cpo
