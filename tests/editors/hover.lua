-- Neovim 0.7 (built-in LSP client) asks `devsandbox lsp' for a hover.
-- nvim --headless -u NONE -c 'luafile hover.lua'
-- Environment: DSB_PYTHON, DSB_ROOT, DSB_FILE, DSB_LINE (1-based), DSB_COL (0-based), DSB_OUT.
local function write(text)
  local f = io.open(os.getenv('DSB_OUT'), 'w')
  f:write(text)
  f:close()
end
vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('DSB_FILE')))
vim.bo.filetype = 'python'
local id = vim.lsp.start_client({  -- vim.lsp.start() is 0.8+
  cmd = { os.getenv('DSB_PYTHON'), '-m', 'devsandbox', 'lsp' },
  root_dir = os.getenv('DSB_ROOT'),
  name = 'devsandbox',
})
vim.lsp.buf_attach_client(0, id)
local ready = vim.wait(20000, function()
  local client = vim.lsp.get_client_by_id(id)
  return client ~= nil and client.initialized
end, 50)
if not ready then
  write('TIMEOUT')
  vim.cmd('cquit 3')
end
vim.api.nvim_win_set_cursor(0, { tonumber(os.getenv('DSB_LINE')), tonumber(os.getenv('DSB_COL')) })
local replies = vim.lsp.buf_request_sync(0, 'textDocument/hover',
  vim.lsp.util.make_position_params(), 20000) or {}
local value = ''
for _, reply in pairs(replies) do
  if reply.result and reply.result.contents then
    value = reply.result.contents.value or ''
  end
end
write(value)
vim.lsp.stop_client(id)
vim.wait(2000, function() return vim.lsp.get_client_by_id(id) == nil end, 50)
vim.cmd('qa!')
