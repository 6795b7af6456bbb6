-- wrk script: refresh_token grants, each request rotating one token of a
-- pool. The tokens (one per line, from `signin_load … tokens`) are split
-- among wrk's threads; every answer's new refresh token goes back into the
-- thread's pool, so each token is used exactly once, as a client would.
-- Usage: TOKENS=file wrk -s bench/refresh.lua URL/oauth/token

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  local file = assert(io.open(os.getenv("TOKENS"), "r"))
  local all = {}
  for line in file:lines() do
    if #line > 0 then table.insert(all, line) end
  end
  file:close()
  local count = tonumber(os.getenv("THREADS") or "2")
  pool = {}
  for index, token in ipairs(all) do
    if (index - 1) % count == id - 1 then table.insert(pool, token) end
  end
end

function request()
  local token = table.remove(pool, 1) or "exhausted"
  return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&client_id=demo-rp&refresh_token=" .. token)
end

function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then table.insert(pool, token) end
end
