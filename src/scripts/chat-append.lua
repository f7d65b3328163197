-- Appends the chat messages of one moment in one space to its history and publishes each on the
-- space's channel, in one step: the order of the stream is the order every server delivers in.
-- KEYS[1] the space's chat stream.
-- ARGV[1] the space's channel, ARGV[2] about how many entries the stream keeps, ARGV[3] its TTL (s),
-- ARGV[4] this server's id as JSON; then per message: userId, username, text, sentAt (ms), the
-- sender's nonce (letters, digits and dots), and the message's JSON object less its opening brace
-- and its id.
-- Returns the ids given, in order.
local stream, channel, maxlen, ttl, server = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local ids = {}
for i = 5, #ARGV, 6 do
  local id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*',
    'u', ARGV[i], 'n', ARGV[i + 1], 't', ARGV[i + 2], 's', ARGV[i + 3], 'k', ARGV[i + 4])
  redis.call('PUBLISH', channel, '{"s":' .. server .. ',"k":"' .. ARGV[i + 4] .. '","m":{"id":"' .. id .. '",' .. ARGV[i + 5] .. '}')
  ids[#ids + 1] = id
end
redis.call('EXPIRE', stream, ttl)
return ids
