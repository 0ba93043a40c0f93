-- The one wrk script of `cargo xtask bench`: what each request carries comes
-- from the environment, so every operation is the same script.
--
--   BENCH_METHOD   GET or POST
--   BENCH_PATH     the request target
--   BENCH_HEADERS  "Name: value" lines
--   BENCH_BODY     the body (may be empty)
--   BENCH_ITEMS    a file of one item per line; each request takes the next
--                  item and puts it where "{item}" is in the headers and body,
--                  and no item is used twice (codes, first-use tokens, DPoP
--                  proofs). Without it every request is the same.
--   BENCH_CHAIN    "1": the items are refresh tokens; each answer's new
--                  refresh_token goes back in the queue, so every connection
--                  rotates its own chain (the rotated token is never reused).
--                  wrk asks for one request more than it has connections
--                  before the first answer, so give it a spare token or two.
--   BENCH_THREADS  the -t given to wrk (default 1)
--   BENCH_EXPECT   a string every good answer's body holds (status 200 is
--                  required anyway).
--
-- When the items run out the thread stops, and the time it stopped at is
-- reported, so the rate is counted over the time there was work.
-- done() prints one line: "BENCH {json}".
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *ts);
]]
local function now_us()
  local ts = ffi.new("bench_timespec")
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local threads = {}
local thread_count = 0
index = 0

function setup(thread)
  thread:set("index", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

local function split_headers(text)
  local headers = {}
  for line in string.gmatch(text or "", "[^\n]+") do
    local name, value = string.match(line, "^([^:]+):%s*(.*)$")
    if name then headers[name] = value end
  end
  return headers
end

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local header_text = os.getenv("BENCH_HEADERS") or ""
local body = os.getenv("BENCH_BODY") or ""
local expect = os.getenv("BENCH_EXPECT") or ""
local chain = os.getenv("BENCH_CHAIN") == "1"
-- wrk -t: the items are dealt out to the threads in turn.
local thread_count_total = tonumber(os.getenv("BENCH_THREADS") or "1")
if body == "" then body = nil end

local fixed = nil
local queue = {}
local head = 1
local tail = 0
bad = 0
started_us = 0
stopped_us = 0
sample = ""

local function fill(template, item)
  -- A function replacement: items are base64url and never hold "%".
  return (string.gsub(template, "{item}", function() return item end))
end

function init(args)
  started_us = now_us()
  local file = os.getenv("BENCH_ITEMS")
  if file == nil or file == "" then
    fixed = wrk.format(method, path, split_headers(header_text), body)
    return
  end
  local n = 0
  for line in io.lines(file) do
    if line ~= "" then
      if n % thread_count_total == index then
        tail = tail + 1
        queue[tail] = line
      end
      n = n + 1
    end
  end
end

function request()
  if fixed then return fixed end
  if head > tail then
    if stopped_us == 0 then stopped_us = now_us() end
    wrk.thread:stop()
    -- wrk still wants a request; the thread is stopping, so it is not sent
    -- to completion before the run ends.
    return wrk.format(method, path, split_headers(header_text), body)
  end
  local item = queue[head]
  queue[head] = nil
  head = head + 1
  return wrk.format(method, path, split_headers(fill(header_text, item)), body and fill(body, item))
end

function response(status, headers, response_body)
  if status ~= 200 or (expect ~= "" and not string.find(response_body, expect, 1, true)) then
    bad = bad + 1
    if sample == "" then sample = status .. " " .. string.sub(response_body or "", 1, 200) end
    return
  end
  if chain then
    local token = string.match(response_body, '"refresh_token"%s*:%s*"([^"]+)"')
    if token then
      tail = tail + 1
      queue[tail] = token
    else
      bad = bad + 1
    end
  end
end

local function json_string(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

function done(summary, latency, requests)
  local bad_total, stopped, sample_text = 0, 0, ""
  for _, thread in ipairs(threads) do
    bad_total = bad_total + (thread:get("bad") or 0)
    local s = thread:get("stopped_us") or 0
    if s > 0 then
      s = s - (thread:get("started_us") or 0)
      if s > stopped then stopped = s end
    end
    if sample_text == "" then sample_text = thread:get("sample") or "" end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"bad":%d,"socket_errors":%d,"stopped_after_us":%d,"sample":%s}\n',
    summary.requests, summary.duration, latency:percentile(50.0), latency:percentile(99.0),
    bad_total, e.connect + e.read + e.write + e.timeout, stopped, json_string(sample_text)))
end
