-- Writes back messages a server accepted and delivered while Redis was away, in the order it
-- accepted them, each with the id it was sent with (kept in field `i`, and in the ids hash that maps
-- it to its entry). A message whose append did reach Redis after all (a reply lost to a timeout) is
-- found by its nonce and not written twice: its id is mapped to the entry it already has.
-- KEYS[1] the space's chat stream, KEYS[2] its ids hash (a message id → its entry id, for the ids
-- that are not entry ids).
-- ARGV[1] about how many entries the stream keeps, ARGV[2] its TTL (s); then per message: id,
-- userId, username, text, sentAt (ms), nonce.
-- Returns how many it wrote.
local stream, ids, maxlen, ttl = KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2])
local count = (#ARGV - 2) / 6
local seen = {}
for _, entry in ipairs(redis.call('XREVRANGE', stream, '+', '-', 'COUNT', count + 100)) do
  local fields = entry[2]
  for f = 1, #fields, 2 do
    if fields[f] == 'k' then seen[fields[f + 1]] = entry[1] end
  end
end
local written = 0
for i = 3, #ARGV, 6 do
  local entryId = seen[ARGV[i + 5]]
  if not entryId then
    entryId = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*',
      'u', ARGV[i + 1], 'n', ARGV[i + 2], 't', ARGV[i + 3], 's', ARGV[i + 4], 'k', ARGV[i + 5], 'i', ARGV[i])
    written = written + 1
  end
  redis.call('HSET', ids, ARGV[i], entryId)
end
redis.call('EXPIRE', stream, ttl)
redis.call('EXPIRE', ids, ttl)
return written
