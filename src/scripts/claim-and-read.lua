-- The joins of one moment in one call: claims each user's avatar for a server and reads the users
-- hash of each space, atomically (two servers claiming one avatar are ordered here).
-- KEYS: for each space of the batch, its owners hash then its users hash.
-- ARGV[1] this server's id, ARGV[2] the owners hashes' TTL (s), ARGV[3] how this server's connected
-- entries end; then, per join, its space's number among KEYS' pairs (1-based) and the user id to
-- claim ('' for none).
-- Returns { the previous owner of each claim, in order (false: none), each space's hash as a flat
-- field/value list less the entries ending with ARGV[3], the numbers in KEYS (1-based) of the keys
-- that hold another writer's data }: this server's memory knows its own connected users better, and
-- in a join storm they are most of the hash. A space with such a key is left alone (nothing claimed,
-- nothing read) rather than failing the other spaces' joins.
local serverId, ttl, own = ARGV[1], tonumber(ARGV[2]), ARGV[3]
-- True when the key holds another type; any other error is raised (the whole call fails, and passes).
local function failed (reply)
  if type(reply) ~= 'table' or not reply.err then return false end
  if string.find(reply.err, 'WRONGTYPE', 1, true) then return true end
  error(reply)
end
local refused = {}
local foreign = {}
local reads = {}
for s = 1, #KEYS / 2 do
  local hash = redis.pcall('HGETALL', KEYS[s * 2])
  if failed(hash) then
    foreign[s] = true
    refused[#refused + 1] = s * 2
    hash = {}
  end
  local others = {}
  for i = 1, #hash, 2 do
    local value = hash[i + 1]
    if string.sub(value, -#own) ~= own then
      others[#others + 1] = hash[i]
      others[#others + 1] = value
    end
  end
  reads[s] = others
end
local previous = {}
local expiring = {}
for i = 4, #ARGV, 2 do
  local space = tonumber(ARGV[i])
  local owners = KEYS[space * 2 - 1]
  local userId = ARGV[i + 1]
  if userId ~= '' then
    local holder = false
    if not foreign[space] then
      holder = redis.pcall('HGET', owners, userId)
      if failed(holder) then
        foreign[space] = true
        refused[#refused + 1] = space * 2 - 1
        holder = false
      end
    end
    previous[#previous + 1] = holder
    if not foreign[space] then
      redis.call('HSET', owners, userId, serverId)
      if not expiring[owners] then
        expiring[owners] = true
        redis.call('EXPIRE', owners, ttl)
      end
    end
  end
end
return { previous, reads, refused }
