-- The joins of one moment in one call: claims each user's avatar for a server and reads the users
-- hash of each space, atomically (two servers claiming one avatar are ordered here).
-- KEYS: for each space of the batch, its owners hash then its users hash.
-- ARGV[1] this server's id, ARGV[2] the owners hashes' TTL (s), ARGV[3] how this server's connected
-- entries end; then, per join, its space's number among KEYS' pairs (1-based) and the user id to
-- claim ('' for none).
-- Returns { the previous owner of each claim, in order (false: none), each space's hash as a flat
-- field/value list less the entries ending with ARGV[3], the numbers of the spaces whose keys hold
-- something other than a hash }: this server's memory knows its own connected users better, and in
-- a join storm they are most of the hash. A space whose keys another writer took is left alone
-- (nothing claimed, nothing read) rather than failing the other spaces' joins.
local serverId, ttl, own = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local function isHash (key)
  local kind = redis.call('TYPE', key).ok
  return kind == 'hash' or kind == 'none'
end
local foreign = {}
local foreignList = {}
for s = 1, #KEYS / 2 do
  if not (isHash(KEYS[s * 2 - 1]) and isHash(KEYS[s * 2])) then
    foreign[s] = true
    foreignList[#foreignList + 1] = s
  end
end
local previous = {}
local expiring = {}
for i = 4, #ARGV, 2 do
  local space = tonumber(ARGV[i])
  local owners = KEYS[space * 2 - 1]
  local userId = ARGV[i + 1]
  if userId ~= '' and foreign[space] then
    previous[#previous + 1] = false
  elseif userId ~= '' then
    previous[#previous + 1] = redis.call('HGET', owners, userId)
    redis.call('HSET', owners, userId, serverId)
    if not expiring[owners] then
      expiring[owners] = true
      redis.call('EXPIRE', owners, ttl)
    end
  end
end
local reads = {}
for s = 2, #KEYS, 2 do
  local hash = foreign[s / 2] and {} or redis.call('HGETALL', KEYS[s])
  local others = {}
  for i = 1, #hash, 2 do
    local value = hash[i + 1]
    if string.sub(value, -#own) ~= own then
      others[#others + 1] = hash[i]
      others[#others + 1] = value
    end
  end
  reads[#reads + 1] = others
end
return { previous, reads, foreignList }
