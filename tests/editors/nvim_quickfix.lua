-- Driven by test_editors.py: open a buggy file in headless Neovim with the user config from
-- editors/nvim/torchlint.lua, wait for torchlint's diagnostics, apply the preferred quick fix
-- through vim.lsp.buf.code_action() (the real UI path), wait until the file is clean.
local repo = os.getenv("TORCHLINT_REPO")
local file = os.getenv("TORCHLINT_FILE")
local result_path = os.getenv("TORCHLINT_RESULT")
local python = os.getenv("TORCHLINT_PYTHON")
local report = { steps = {} }

local function finish(ok, msg)
  report.ok = ok
  report.message = msg
  local f = io.open(result_path, "w")
  f:write(vim.fn.json_encode(report))
  f:close()
  vim.cmd(ok and "qa!" or "cquit! 1")
end

local function step(name, value)
  table.insert(report.steps, name)
  report[name] = value
end

local function run()
  vim.cmd("filetype on")
  local torchlint = dofile(repo .. "/editors/nvim/torchlint.lua")
  torchlint.setup({ cmd = { python, "-m", "torchlint", "server" }, init_options = { debounce = 10 } })
  vim.cmd("edit " .. vim.fn.fnameescape(file))
  local original = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  if not vim.wait(60000, function() return #vim.diagnostic.get(0) > 0 end, 50) then
    return finish(false, "no diagnostics")
  end
  local d = vim.diagnostic.get(0)[1]
  local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)
  step("diagnostic", { code = code, source = d.source, lnum = d.lnum, col = d.col })

  vim.ui.select = function(items, _, on_choice)
    for i, item in ipairs(items) do
      local action = item.action or item[2]
      if action and action.isPreferred then
        step("chosen", action.title)
        return on_choice(item, i)
      end
    end
    on_choice(nil)
  end
  vim.api.nvim_win_set_cursor(0, { d.lnum + 1, d.col })
  vim.lsp.buf.code_action()
  local function text()
    return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  end
  if not vim.wait(30000, function() return text():find("zero_grad", 1, true) ~= nil end, 50) then
    return finish(false, "the quick fix was not applied")
  end
  if not vim.wait(30000, function() return #vim.diagnostic.get(0) == 0 end, 50) then
    return finish(false, "diagnostics remain after the fix: " .. vim.inspect(vim.diagnostic.get(0)))
  end
  step("text", text())

  -- back to the buggy text, then :TorchlintFixAll (source.fixAll.torchlint)
  vim.api.nvim_buf_set_lines(0, 0, -1, false, original)
  if not vim.wait(30000, function() return #vim.diagnostic.get(0) > 0 end, 50) then
    return finish(false, "no diagnostics after restoring the buggy text")
  end
  vim.cmd("TorchlintFixAll")
  if not vim.wait(30000, function() return #vim.diagnostic.get(0) == 0 end, 50) then
    return finish(false, "diagnostics remain after :TorchlintFixAll")
  end
  step("fix_all_text", text())
  finish(true, "ok")
end

local ok, err = pcall(run)
if not ok then
  finish(false, "error: " .. tostring(err))
end
