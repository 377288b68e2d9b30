" The Vim plugin (editors/vim) replaying a recording post-mortem: :DevsandboxReplay, a
" breakpoint, :DevsandboxReverseContinue to its last hit, :DevsandboxStepBack,
" :DevsandboxLastWrite, :DevsandboxStop.
"   vim -Nu NONE -i NONE -es -S vim_replay.vim
" Environment: as vim_client.vim, plus DSB_RECORDING (a .dsrec of DSB_FILE's program).
execute 'source ' . fnameescape(expand('<sfile>:p:h') . '/vim_helpers.vim')

try
  execute 'edit ' . fnameescape($DSB_FILE)
  call cursor(g:dsb_line, 1)
  DevsandboxBreakpoint
  execute 'DevsandboxReplay ' . fnameescape($DSB_RECORDING)
  call DsbNote('replaying', DsbWait('s.status ==# "stopped" && !s.loading && s.past', 30000))

  DevsandboxReverseContinue
  call DsbNote('reverse continue', DsbWait(g:dsb_stopped_at . g:dsb_line . ' && ' . DsbHas('i = 9'), 20000))
  DevsandboxStepBack
  call DsbWait(g:dsb_stopped_at . (g:dsb_line - 1), 20000)
  DevsandboxStepBack
  call DsbNote('step back', DsbWait(g:dsb_stopped_at . g:dsb_line . ' && ' . DsbHas('i = 8'), 20000))

  DevsandboxLastWrite total
  call DsbNote('last write', DsbWait('execute("messages") =~# "total became"', 10000))

  DevsandboxStop
  call DsbNote('ended', DsbWait('s.status ==# "ended"', 10000))
catch
  let g:dsb_report.error = v:exception . ' at ' . v:throwpoint
endtry
call DsbFinish()
