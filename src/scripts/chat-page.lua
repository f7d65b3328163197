-- One page of a space's history, newest first: the entries older than the message `before`, or
-- the newest ones when it is ''. A message written back after an outage has an id of its server's
-- making, not its entry id: the ids hash maps it to its entry.
-- KEYS[1] the space's chat stream, KEYS[2] its ids hash. ARGV[1] before ('' for the newest page),
-- ARGV[2] how many.
-- Returns the entries (XREVRANGE's shape), or false when `before` names no message of the stream.
local stream, ids, before, count = KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2])
local from = '+'
if before ~= '' then
  local at = redis.call('HGET', ids, before)
  if not at and string.match(before, '^%d+%-%d+$') and #redis.call('XRANGE', stream, before, before) > 0 then
    at = before
  end
  if not at or #redis.call('XRANGE', stream, at, at) == 0 then return false end
  from = '(' .. at
end
return redis.call('XREVRANGE', stream, from, '-', 'COUNT', count)
