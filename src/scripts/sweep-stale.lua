-- Removes each given index member whose entry's lastUpdated is at or before the cutoff, checked
-- against the entry itself (the index may lag: a fresher entry is scored again instead). Several
-- servers may run it over the same members: each entry is removed, and reported, by one of them.
-- KEYS[1] the presence index, KEYS[2] the ghost index, KEYS[2 + i] the users hash of member i.
-- ARGV[1] the cutoff (ms); ARGV[1 + i] member i, "spaceId userId".
-- Returns what it removed as flat quadruples: spaceId, userId, '1' when it still claimed a
-- connection (else '0'), and the session's start in ms ('' when the entry did not say).
-- A hash that another writer replaced with some other type counts as gone: its members leave the index.
local cutoff = tonumber(ARGV[1])
local function hget (hash, field)
  local value = redis.pcall('HGET', hash, field)
  if type(value) == 'table' then return nil end
  return value
end
local removed = {}
for i = 2, #ARGV do
  local member = ARGV[i]
  local hash = KEYS[i + 1]
  local sep = string.find(member, ' ', 1, true)
  local userId = string.sub(member, sep + 1)
  local value = hget(hash, userId)
  local lastUpdated = nil
  local connected = true
  local sessionStart = ''
  if value then
    local ok, entry = pcall(cjson.decode, value)
    if ok and type(entry) == 'table' then
      if type(entry.lastUpdated) == 'number' then lastUpdated = entry.lastUpdated end
      connected = entry.connected ~= false
      if type(entry.sessionStart) == 'number' then sessionStart = string.format('%d', entry.sessionStart) end
    end
  end
  if value and lastUpdated and lastUpdated > cutoff then
    redis.call('ZADD', KEYS[1], lastUpdated, member)
  else
    redis.call('ZREM', KEYS[1], member)
    redis.call('ZREM', KEYS[2], member)
    if value then
      redis.call('HDEL', hash, userId)
      table.insert(removed, string.sub(member, 1, sep - 1))
      table.insert(removed, userId)
      table.insert(removed, connected and '1' or '0')
      table.insert(removed, sessionStart)
    end
  end
end
return removed
