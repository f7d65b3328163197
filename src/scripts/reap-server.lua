-- Turns a dead server's connected users into ghosts, once: only the first caller that still finds
-- the server's heartbeat at or before the cutoff takes it out of the live set and converts the
-- entries that still name it and still claim a connection.
-- KEYS[1] the live servers, KEYS[2] the presence index, KEYS[3] the ghost index, KEYS[4] the dead
-- server's users set; then for member i, KEYS[3 + 2i] its space's users hash and KEYS[4 + 2i] its
-- space's owners hash.
-- ARGV[1] the dead server's id, ARGV[2] the cutoff (ms); ARGV[2 + i] member i, "spaceId userId"
-- (the users set as read just before).
-- Their lastUpdated becomes the server's last heartbeat, the last time they were known connected,
-- so that the stale sweep removes the ones who never come back STALE_USER_MS after the crash.
-- A key that another writer replaced with some other type is passed over.
-- Returns the converted entries as flat pairs: spaceId, userId.
local function hget (hash, field)
  local value = redis.pcall('HGET', hash, field)
  if type(value) == 'table' then return nil end
  return value
end
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not score) or tonumber(score) > tonumber(ARGV[2]) then return {} end
redis.call('ZREM', KEYS[1], ARGV[1])
local lastSeen = tonumber(score)
local out = {}
for i = 3, #ARGV do
  local member = ARGV[i]
  -- Only the members read: one added since (the server was not dead after all) stays.
  redis.call('SREM', KEYS[4], member)
  local sep = string.find(member, ' ', 1, true)
  local userId = string.sub(member, sep + 1)
  local hash, owners = KEYS[2 * i - 1], KEYS[2 * i]
  local value = hget(hash, userId)
  if value then
    local ok, entry = pcall(cjson.decode, value)
    if hget(owners, userId) == ARGV[1] then redis.call('HDEL', owners, userId) end
    if ok and type(entry) == 'table' and entry.serverId == ARGV[1] and entry.connected ~= false then
      entry.connected = false
      entry.lastUpdated = lastSeen
      redis.call('HSET', hash, userId, cjson.encode(entry))
      redis.call('ZADD', KEYS[2], lastSeen, member)
      redis.call('ZADD', KEYS[3], lastSeen, member)
      table.insert(out, string.sub(member, 1, sep - 1))
      table.insert(out, userId)
    end
  end
end
return out
