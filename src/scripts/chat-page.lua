-- One page of a space's history, newest first: the entries older than the message `before`, or
-- the newest ones when it is ''. A message written back after an outage has its id in field `i`,
-- not as its entry id: such an id is looked up among the entries.
-- KEYS[1] the space's chat stream. ARGV[1] before ('' for the newest page), ARGV[2] how many.
-- Returns the entries (XREVRANGE's shape), or false when `before` names no message of the stream.
local stream, before, count = KEYS[1], ARGV[1], tonumber(ARGV[2])
local from = '+'
if before ~= '' then
  local at = nil
  if string.match(before, '^%d+%-%d+$') and #redis.call('XRANGE', stream, before, before) > 0 then
    at = before
  else
    for _, entry in ipairs(redis.call('XREVRANGE', stream, '+', '-')) do
      local fields = entry[2]
      for f = 1, #fields, 2 do
        if fields[f] == 'i' and fields[f + 1] == before then at = entry[1] end
      end
      if at then break end
    end
  end
  if not at then return false end
  from = '(' .. at
end
return redis.call('XREVRANGE', stream, from, '-', 'COUNT', count)
