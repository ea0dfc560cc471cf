-- POST /auth/login with the correct password, round-robin over a file of
-- "email<TAB>password" lines. Meant for auth's replicas directly (WRK_TARGETS
-- spreads the threads over them): the ingress rate-limits logins per client
-- address. Each request carries an X-Forwarded-For from a pool of client
-- addresses, as the ingress sets it for distinct clients (auth trusts it from
-- 127.0.0.1): auth counts every attempt against the address until it
-- succeeds, so one address for all connections would be throttled at 30 in
-- flight.
-- Usage: wrk ... -s login.lua <url> -- <file.tsv> [addresses, default 250]
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

setup = common.setup
done = common.done

local bodies = {}
local position = 0
local counter = 0
local addresses = 250

local function json_string(text)
  return '"' .. text:gsub('[%c"\\]', function(ch)
    return string.format("\\u%04x", ch:byte())
  end) .. '"'
end

function init(args)
  for _, row in ipairs(common.read_tsv(args[1])) do
    bodies[#bodies + 1] = string.format(
      '{"email":%s,"password":%s}', json_string(row[1]), json_string(row[2])
    )
  end
  addresses = tonumber(args[2]) or addresses
  position = common.offset(#bodies)
end

function request()
  position = position % #bodies + 1
  counter = counter + 1
  local slot = counter % addresses
  local client = string.format("10.%d.%d.%d", 64 + (tid or 1), math.floor(slot / 250), slot % 250 + 1)
  return wrk.format("POST", "/auth/login", {
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = client,
  }, bodies[position])
end
