" DevSandbox: debug Python with time travel from Vim 9.  A thin client of `devsandbox dap`
" and `devsandbox lsp`, spoken over Vim's channels (no Python or Lua in Vim needed).
" See :help devsandbox.

if exists('g:loaded_devsandbox') || v:version < 900 || !has('channel') || !has('job')
  finish
endif
let g:loaded_devsandbox = 1

let s:save_cpo = &cpoptions
set cpoptions&vim

command! -nargs=* -complete=file DevsandboxLaunch call devsandbox#Launch(<f-args>)
command! -nargs=+ DevsandboxAttach call devsandbox#Attach(<f-args>)
command! -nargs=1 -complete=file DevsandboxReplay call devsandbox#Replay(<q-args>)
command! -nargs=0 DevsandboxStop call devsandbox#Stop()
command! -nargs=0 DevsandboxBreakpoint call devsandbox#ToggleBreakpoint()
command! -nargs=0 DevsandboxClearBreakpoints call devsandbox#ClearBreakpoints()
command! -nargs=0 DevsandboxContinue call devsandbox#Step('continue')
command! -nargs=0 DevsandboxNext call devsandbox#Step('next')
command! -nargs=0 DevsandboxStep call devsandbox#Step('stepIn')
command! -nargs=0 DevsandboxFinish call devsandbox#Step('stepOut')
command! -nargs=0 DevsandboxStepBack call devsandbox#Step('stepBack')
command! -nargs=0 DevsandboxReverseContinue call devsandbox#Step('reverseContinue')
command! -nargs=0 DevsandboxStepBackIn call devsandbox#Step('devsandbox/stepBackIn')
command! -nargs=0 DevsandboxStepBackOut call devsandbox#Step('devsandbox/stepBackOut')
command! -nargs=0 DevsandboxPause call devsandbox#Pause()
command! -nargs=? DevsandboxValueHistory call devsandbox#ValueHistory(<q-args>)
command! -nargs=? DevsandboxLastWrite call devsandbox#LastWrite(<q-args>)
command! -nargs=+ DevsandboxEval call devsandbox#Evaluate(<q-args>)
command! -nargs=0 DevsandboxHover call devsandbox#Hover()
command! -nargs=0 DevsandboxWindow call devsandbox#ToggleWindow()
command! -nargs=0 DevsandboxOutput call devsandbox#Output()

nnoremap <silent> <Plug>(devsandbox-launch) :<C-U>call devsandbox#Launch()<CR>
nnoremap <silent> <Plug>(devsandbox-breakpoint) :<C-U>call devsandbox#ToggleBreakpoint()<CR>
nnoremap <silent> <Plug>(devsandbox-continue) :<C-U>call devsandbox#Step('continue')<CR>
nnoremap <silent> <Plug>(devsandbox-next) :<C-U>call devsandbox#Step('next')<CR>
nnoremap <silent> <Plug>(devsandbox-step) :<C-U>call devsandbox#Step('stepIn')<CR>
nnoremap <silent> <Plug>(devsandbox-finish) :<C-U>call devsandbox#Step('stepOut')<CR>
nnoremap <silent> <Plug>(devsandbox-step-back) :<C-U>call devsandbox#Step('stepBack')<CR>
nnoremap <silent> <Plug>(devsandbox-reverse-continue) :<C-U>call devsandbox#Step('reverseContinue')<CR>
nnoremap <silent> <Plug>(devsandbox-stop) :<C-U>call devsandbox#Stop()<CR>
nnoremap <silent> <Plug>(devsandbox-hover) :<C-U>call devsandbox#Hover()<CR>
nnoremap <silent> <Plug>(devsandbox-value-history) :<C-U>call devsandbox#ValueHistory('')<CR>
nnoremap <silent> <Plug>(devsandbox-last-write) :<C-U>call devsandbox#LastWrite('')<CR>

" Keys only when asked for: let g:devsandbox_mappings = 1 (F5/F9/F10/F11 as in most IDEs).
if get(g:, 'devsandbox_mappings', 0)
  nmap <F5> <Plug>(devsandbox-continue)
  nmap <S-F5> <Plug>(devsandbox-stop)
  nmap <F6> <Plug>(devsandbox-reverse-continue)
  nmap <F7> <Plug>(devsandbox-step-back)
  nmap <F9> <Plug>(devsandbox-breakpoint)
  nmap <F10> <Plug>(devsandbox-next)
  nmap <F11> <Plug>(devsandbox-step)
  nmap <S-F11> <Plug>(devsandbox-finish)
  nmap <Leader>dh <Plug>(devsandbox-hover)
  nmap <Leader>dv <Plug>(devsandbox-value-history)
  nmap <Leader>dw <Plug>(devsandbox-last-write)
endif

highlight default link DevsandboxBreakpoint ErrorMsg
highlight default link DevsandboxPC Todo
highlight default link DevsandboxPCLine CursorLine
highlight default link DevsandboxPast Directory
highlight default link DevsandboxPastLine Visual

augroup devsandbox
  autocmd!
  " the language server follows the Python buffers (g:devsandbox_lsp = 0 turns it off)
  autocmd FileType python call devsandbox#LspAttach()
  autocmd BufWritePost *.py if exists('b:devsandbox_lsp_tick') | call devsandbox#LspAttach() | endif
  autocmd VimLeavePre * if exists('*devsandbox#Stop') | call devsandbox#Stop() | call devsandbox#LspStop() | endif
augroup END

let &cpoptions = s:save_cpo
unlet s:save_cpo
