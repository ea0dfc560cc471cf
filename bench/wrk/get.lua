-- GET requests round-robin over a file of "path<TAB>token" lines (token "-"
-- for none): every user's bearer token and paths take their turn.
-- Usage: wrk ... -s get.lua <url> -- <file.tsv>
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

setup = common.setup
done = common.done

local prepared = {}
local position = 0

function init(args)
  for _, row in ipairs(common.read_tsv(args[1])) do
    prepared[#prepared + 1] = wrk.format("GET", row[1], common.bearer(row[2]))
  end
  position = common.offset(#prepared)
end

function request()
  position = position % #prepared + 1
  return prepared[position]
end
