-- wrk script: POST /v1/search, rotating over JSON bodies read from a file (one JSON object per line).
-- Usage: wrk -t2 -c16 -d10s --latency -s benchmarks/wrk_search.lua http://127.0.0.1:PORT -- bodies.jsonl
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local bodies = {}
local i = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  if #bodies == 0 then error("no request bodies in " .. tostring(args[1])) end
  i = ((id or 0) * 7) % #bodies -- threads start at different queries
end

function request()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/search", headers, bodies[i])
end
