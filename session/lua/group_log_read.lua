-- group_log_read: the entries of a group's recovery log after a given seq, read in one step with
-- the log's state (docs/redis-protocol.md, "Recoverable groups").
-- KEYS[1] log state  {prefix}group:{gid}:seq
-- KEYS[2] log        {prefix}group:{gid}:log
-- ARGV[1] since      the last seq the reader has (0: from the start of the epoch)
-- ARGV[2] age kept, ms (default; the state hash's max_age wins)
-- Returns {epoch, seq, status, payload...}: epoch "" when the group has no log; status "ok" with the
-- payloads of seq since+1 .. seq in order, or "trimmed" (some are gone: trimmed or too old) with none.
local state = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'max_age')
if not state[1] then return {'', 0, 'ok'} end
local seq, since = tonumber(state[2]), tonumber(ARGV[1])
local out = {state[1], seq, 'ok'}
if since >= seq then return out end
local n = redis.call('LLEN', KEYS[2])
local start = n - (seq - since)
if start < 0 then out[3] = 'trimmed'; return out end
local t = redis.call('TIME')
local oldest = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(state[3] or ARGV[2])
local entries = redis.call('LRANGE', KEYS[2], start, -1)
for i, e in ipairs(entries) do
  local s, ms, p = string.match(e, '^(%d+) (%d+) (.*)$')
  if tonumber(s) ~= since + i or tonumber(ms) < oldest then out[3] = 'trimmed'; return {out[1], out[2], out[3]} end
  out[#out + 1] = p
end
return out
