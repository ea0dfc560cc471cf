-- POST /services/transactions: transfers between two accounts of one user
-- (same currency), from a file of "token<TAB>from_id<TAB>to_id" lines. Every
-- request has its own Idempotency-Key and body (amount, description), and the
-- direction alternates so balances stay near where they started.
-- Usage: wrk ... -s transfer.lua <url> -- <file.tsv> <run-id> <YYYY-MM-DD>
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

setup = common.setup
done = common.done

local rows = {}
local position = 0
local counter = 0
local run_id = "run"
local date = "2026-01-01"

function init(args)
  rows = common.read_tsv(args[1])
  run_id = args[2] or run_id
  date = args[3] or date
  position = common.offset(#rows)
end

function request()
  position = position % #rows + 1
  counter = counter + 1
  local row = rows[position]
  local from, to = row[2], row[3]
  if counter % 2 == 0 then
    from, to = to, from
  end
  local key = string.format("%s-%d-%d", run_id, tid or 1, counter)
  local amount = string.format("%d.%02d", 1 + counter % 250, counter % 100)
  local body = string.format(
    '{"type":"transfer","account_id":"%s","to_account_id":"%s","amount":"%s",'
      .. '"date":"%s","description":"bench transfer %s"}',
    from, to, amount, date, key
  )
  local headers = common.bearer(row[1])
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = key
  return wrk.format("POST", "/services/transactions", headers, body)
end
