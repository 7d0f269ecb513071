-- tidewater GCRA, run atomically by Redis (one EVALSHA per check).
--
-- KEYS[1]  the bucket's key
-- ARGV[1]  emission interval, nanoseconds (integer)
-- ARGV[2]  capacity (burst), tokens
-- ARGV[3]  need: tokens that must all be available, or nothing is taken
-- ARGV[4]  want: tokens to take when at least `need` are available (want >= need)
-- ARGV[5]  "1" to take, "0" to only look (peek)
--
-- Returns {allowed, granted, remaining, retry_after_ns, full_after_ns}.
--
-- Time is the server's (TIME), so replicas with skewed clocks share one timeline. The state
-- is the theoretical arrival time (TAT) as "seconds:nanoseconds"; all arithmetic is done
-- relative to now in nanoseconds, which Lua's doubles hold exactly below 2^53 (about 104
-- days; the client refuses quotas whose full refill is longer). A key expires when its
-- bucket is full again, because a missing key and a full bucket behave the same.
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local need = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local write = ARGV[5] == '1'

local time = redis.call('TIME')
local now_s = tonumber(time[1])
local now_ns = tonumber(time[2]) * 1000

-- How far the bucket's TAT is ahead of now: the refill still owed (0 when full).
local behind = 0
local stored = redis.call('GET', KEYS[1])
if stored then
  -- find/sub rather than a pattern match: this runs on every check.
  local colon = string.find(stored, ':', 1, true)
  local s = colon and tonumber(string.sub(stored, 1, colon - 1))
  local ns = colon and tonumber(string.sub(stored, colon + 1))
  if not (s and ns) then
    return redis.error_reply('tidewater: ' .. KEYS[1] .. ' does not hold a GCRA state')
  end
  behind = (s - now_s) * 1000000000 + (ns - now_ns)
  if behind < 0 then behind = 0 end
end

-- Room left in the bucket, in nanoseconds of refill; negative after a quota shrank.
local room = capacity * interval - behind
local available = 0
if room > 0 then available = math.floor(room / interval) end

if available < need then
  return {0, 0, available, need * interval - room, behind}
end

local take = want
if available < take then take = available end
if not write or take == 0 then
  return {1, 0, available, 0, behind}
end

behind = behind + take * interval
local total = now_ns + behind
local sec = now_s + math.floor(total / 1000000000)
local nsec = total % 1000000000
-- Both parts are integers below 10^10, which Lua prints exactly ("%.14g").
redis.call('SET', KEYS[1], sec .. ':' .. nsec, 'PX', math.floor(behind / 1000000) + 1)
return {1, take, available - take, 0, behind}
