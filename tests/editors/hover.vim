" Vim 9 (channel in lsp mode, no plugin) asks `devsandbox lsp' for a hover.
" vim -Nu NONE -es -S hover.vim
" Environment: DSB_PYTHON, DSB_ROOT, DSB_FILE, DSB_LINE (1-based), DSB_COL (0-based), DSB_OUT.
function s:Uri(path) abort
  return 'file://' .. a:path
endfunction

let s:job = job_start([$DSB_PYTHON, '-m', 'devsandbox', 'lsp'],
      \ {'in_mode': 'lsp', 'out_mode': 'lsp', 'err_io': 'null'})
let s:ch = job_getchannel(s:job)
let s:init = ch_evalexpr(s:ch, {'method': 'initialize', 'params': {
      \ 'processId': getpid(), 'rootUri': s:Uri($DSB_ROOT), 'capabilities': {},
      \ 'workspaceFolders': [{'uri': s:Uri($DSB_ROOT), 'name': 'ws'}]}}, {'timeout': 20000})
call ch_sendexpr(s:ch, {'method': 'initialized', 'params': {}})
call ch_sendexpr(s:ch, {'method': 'textDocument/didOpen', 'params': {'textDocument': {
      \ 'uri': s:Uri($DSB_FILE), 'languageId': 'python', 'version': 1,
      \ 'text': join(readfile($DSB_FILE), "\n") .. "\n"}}})
let s:reply = ch_evalexpr(s:ch, {'method': 'textDocument/hover', 'params': {
      \ 'textDocument': {'uri': s:Uri($DSB_FILE)},
      \ 'position': {'line': str2nr($DSB_LINE) - 1, 'character': str2nr($DSB_COL)}}},
      \ {'timeout': 20000})
let s:value = ''
if type(s:reply) == v:t_dict && type(get(s:reply, 'result', v:null)) == v:t_dict
  let s:value = s:reply.result.contents.value
endif
call writefile(split(s:value, "\n", 1), $DSB_OUT)
call ch_evalexpr(s:ch, {'method': 'shutdown'}, {'timeout': 5000})
call ch_sendexpr(s:ch, {'method': 'exit'})
qa!
