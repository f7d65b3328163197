-- Turns a dead server's connected users into ghosts, once: only the first caller that still finds
-- the server's heartbeat at or before the cutoff takes it out of the live set and converts the
-- entries that still name it and still claim a connection.
-- KEYS[1] the live servers, KEYS[2] the presence index, KEYS[3] the ghost index, KEYS[4] the dead
-- server's users set; then for member i, KEYS[3 + 2i] its space's users hash and KEYS[4 + 2i] its
-- space's owners hash.
-- ARGV[1] the dead server's id, ARGV[2] the cutoff (ms), ARGV[3] now (ms); ARGV[3 + i] member i,
-- "spaceId userId" (the users set as read just before).
-- Returns the converted entries as flat pairs: spaceId, userId.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not score) or tonumber(score) > tonumber(ARGV[2]) then return {} end
redis.call('ZREM', KEYS[1], ARGV[1])
local now = tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV do
  local member = ARGV[i]
  local sep = string.find(member, ' ', 1, true)
  local userId = string.sub(member, sep + 1)
  local hash, owners = KEYS[2 * i - 3], KEYS[2 * i - 2]
  local value = redis.call('HGET', hash, userId)
  if value then
    local ok, entry = pcall(cjson.decode, value)
    if redis.call('HGET', owners, userId) == ARGV[1] then redis.call('HDEL', owners, userId) end
    if ok and type(entry) == 'table' and entry.serverId == ARGV[1] and entry.connected ~= false then
      entry.connected = false
      entry.lastUpdated = now
      redis.call('HSET', hash, userId, cjson.encode(entry))
      redis.call('ZADD', KEYS[2], now, member)
      redis.call('ZADD', KEYS[3], now, member)
      table.insert(out, string.sub(member, 1, sep - 1))
      table.insert(out, userId)
    end
  end
end
redis.call('DEL', KEYS[4])
return out
