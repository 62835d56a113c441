-- torchlint language server for Neovim >= 0.7, no plugins needed.
--
-- Copy this file to ~/.config/nvim/lua/torchlint.lua and add to init.lua:
--
--   require("torchlint").setup({
--     -- cmd = { "/path/to/venv/bin/torchlint", "server" },
--     settings = { ignore = { "TL109" }, severity = { TL406 = "hint" } },  -- like [tool.torchlint]
--   })
--
-- Quick fixes: vim.lsp.buf.code_action() on a diagnostic.
-- Commands: :TorchlintFixAll (apply every safe fix), :TorchlintOverfit (overfit check
-- of the training loop at the cursor), :TorchlintCodeLens (show "Run overfit check" lenses).
local M = {}

M.defaults = {
  cmd = { "torchlint", "server" },
  filetypes = { "python" },
  root_markers = { "pyproject.toml", "setup.cfg", "setup.py", ".git" },
  settings = {}, -- select, ignore, severity, per-file-ignores, interpreter, overfit = { steps, timeout }
  init_options = nil, -- defaults to { torchlint = settings }
  codelens = false, -- refresh code lenses on BufEnter/InsertLeave/BufWritePost
  on_attach = nil,
}

local clients = {} -- root directory -> client id

local function find_root(fname, markers)
  local dir = vim.fn.fnamemodify(fname, ":p:h")
  while true do
    for _, marker in ipairs(markers) do
      local candidate = dir .. "/" .. marker
      if vim.fn.filereadable(candidate) == 1 or vim.fn.isdirectory(candidate) == 1 then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ":h")
    if parent == dir then
      return vim.fn.fnamemodify(fname, ":p:h")
    end
    dir = parent
  end
end

local has_011 = vim.fn.has("nvim-0.11") == 1

local function client_for(bufnr)
  local attached = vim.lsp.get_clients and vim.lsp.get_clients({ bufnr = bufnr }) or vim.lsp.buf_get_clients(bufnr)
  for _, client in pairs(attached) do
    if client.name == "torchlint" then
      return client
    end
  end
end

local function apply(client, edit)
  vim.lsp.util.apply_workspace_edit(edit, client.offset_encoding or "utf-16")
end

-- Apply every safe fix of the current buffer (the `source.fixAll.torchlint` action).
function M.fix_all(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client then
    return false
  end
  local params = {
    textDocument = vim.lsp.util.make_text_document_params(bufnr),
    range = { start = { line = 0, character = 0 }, ["end"] = { line = 0, character = 0 } },
    context = { diagnostics = {}, only = { "source.fixAll.torchlint" } },
  }
  local resp
  if has_011 then
    resp = client:request_sync("textDocument/codeAction", params, 10000, bufnr)
  else
    resp = client.request_sync("textDocument/codeAction", params, 10000, bufnr)
  end
  for _, action in ipairs((resp and resp.result) or {}) do
    if action.edit then
      apply(client, action.edit)
      return true
    end
  end
  return false
end

-- Run the overfit check on the training loop at (or above) the cursor.
function M.overfit()
  local bufnr = vim.api.nvim_get_current_buf()
  local line = vim.api.nvim_win_get_cursor(0)[1] - 1
  local command = {
    title = "Run overfit check",
    command = "torchlint.runOverfitCheck",
    arguments = { { uri = vim.uri_from_bufnr(bufnr), line = line } },
  }
  local client = client_for(bufnr)
  if has_011 and client then
    client:exec_cmd(command, { bufnr = bufnr })
  else
    vim.lsp.buf.execute_command(command)
  end
end

function M.start(bufnr, opts)
  local fname = vim.api.nvim_buf_get_name(bufnr)
  if fname == "" then
    return nil
  end
  local root = find_root(fname, opts.root_markers)
  local id = clients[root]
  if not id or vim.lsp.get_client_by_id(id) == nil then
    id = vim.lsp.start_client({
      name = "torchlint",
      cmd = opts.cmd,
      root_dir = root,
      workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
      init_options = opts.init_options or { torchlint = opts.settings },
      settings = { torchlint = opts.settings }, -- answered to workspace/configuration
      on_attach = opts.on_attach,
    })
    clients[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

function M.setup(user)
  local opts = vim.tbl_deep_extend("force", M.defaults, user or {})
  local group = vim.api.nvim_create_augroup("torchlint", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = opts.filetypes,
    callback = function(args)
      M.start(args.buf, opts)
    end,
  })
  if opts.codelens then
    vim.api.nvim_create_autocmd({ "BufEnter", "InsertLeave", "BufWritePost" }, {
      group = group,
      pattern = "*.py",
      callback = function()
        pcall(vim.lsp.codelens.refresh)
      end,
    })
  end
  vim.api.nvim_create_user_command("TorchlintFixAll", function()
    M.fix_all()
  end, {})
  vim.api.nvim_create_user_command("TorchlintOverfit", M.overfit, {})
  vim.api.nvim_create_user_command("TorchlintCodeLens", function()
    vim.lsp.codelens.refresh()
  end, {})
  return opts
end

return M
