" The Vim plugin (editors/vim) in Vim 9, headless: a breakpoint, :DevsandboxLaunch (recorded),
" continue to the 4th time round the loop, :DevsandboxStepBack twice, the session window, a
" hover popup from `devsandbox lsp', the value history, :DevsandboxStop.
"   vim -Nu NONE -i NONE -es -S vim_client.vim
" Environment: DSB_PLUGIN, DSB_PYTHON, DSB_FILE, DSB_LINE (1-based), DSB_OUT (JSON written).
execute 'source ' . fnameescape(expand('<sfile>:p:h') . '/vim_helpers.vim')

try
  execute 'edit ' . fnameescape($DSB_FILE)
  call cursor(g:dsb_line, 1)
  DevsandboxBreakpoint
  call DsbNote('breakpoint', index(map(sign_getplaced(bufnr('%'), {'group': 'devsandbox'})[0].signs,
        \ 'v:val.lnum'), g:dsb_line) >= 0)

  DevsandboxLaunch
  call DsbNote('stopped', DsbWait(g:dsb_stopped_at . g:dsb_line . ' && ' . DsbHas('i = 0'), 60000))

  for s:hit in range(1, 3)
    DevsandboxContinue
    let s:ok = DsbWait(g:dsb_stopped_at . g:dsb_line . ' && ' . DsbHas('i = ' . s:hit), 20000)
  endfor
  call DsbNote('continued', s:ok)

  DevsandboxStepBack
  call DsbNote('step back 1', DsbWait(g:dsb_stopped_at . (g:dsb_line - 1) . ' && ' . DsbHas('total = 3'), 20000))
  DevsandboxStepBack
  call DsbNote('step back 2', DsbWait(g:dsb_stopped_at . g:dsb_line . ' && ' . DsbHas('i = 2'), 20000))

  " hover `total' on the current line: the language server's value at this step
  call cursor(g:dsb_line, match(getline(g:dsb_line), '\<total\>') + 2)
  let s:ok = 0
  for s:attempt in range(20)
    DevsandboxHover
    if DsbWait('!empty(s.hover) && join(s.hover) =~# "total"', 1000)
      let s:ok = 1
      break
    endif
  endfor
  call DsbNote('hover', s:ok)
  let g:dsb_report.popups = map(popup_list(), 'getbufline(winbufnr(v:val), 1, "$")')

  DevsandboxValueHistory total
  call DsbWait('!empty(s.history)', 10000)
  let g:dsb_report.history = map(devsandbox#Status().history, 'v:val.text')

  DevsandboxStop
  call DsbNote('ended', DsbWait('s.status ==# "ended"', 10000))
catch
  let g:dsb_report.error = v:exception . ' at ' . v:throwpoint
endtry
call DsbFinish()
