-- Mixed traffic for the soak of benchmarks/bench_serving.py, against the generated service.
--
-- Each wrk thread cycles through 20 requests: 13 valid predictions, 2 records with a wrong
-- type and 1 with a missing feature (422), 1 malformed JSON body (400), 2 feedbacks for
-- predictions this thread received (200) and 1 feedback for an unknown request (404).
-- The bodies come from the environment, written by bench_serving.py from a held-out row:
--   SOAK_PREDICT, SOAK_WRONG_TYPE, SOAK_MISSING, SOAK_MALFORMED  request bodies
--   SOAK_FEEDBACK  a feedback body with %s where the request_id goes
-- `done` prints one line per request kind sent and per status received:
--   soak sent <kind> <count>
--   soak status <code> <count>

local bodies = {
   predict = os.getenv("SOAK_PREDICT"),
   wrong_type = os.getenv("SOAK_WRONG_TYPE"),
   missing = os.getenv("SOAK_MISSING"),
   malformed = os.getenv("SOAK_MALFORMED"),
}
local feedback = os.getenv("SOAK_FEEDBACK")
local headers = { ["Content-Type"] = "application/json" }
local cycle = {
   "predict", "wrong_type", "predict", "predict", "feedback", "predict", "missing",
   "predict", "predict", "malformed", "predict", "feedback", "predict", "predict",
   "unknown_feedback", "predict", "wrong_type", "predict", "predict", "predict",
}

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state).
sent = {}
statuses = {}
local position = 0
local ids = {}  -- request ids of predictions received, awaiting feedback

local function count(tbl, key)
   tbl[key] = (tbl[key] or 0) + 1
end

function request()
   position = position % #cycle + 1
   local kind = cycle[position]
   if kind == "feedback" and #ids == 0 then
      kind = "predict"  -- nothing to give feedback on yet
   end
   count(sent, kind)
   if kind == "feedback" then
      local body = string.format(feedback, table.remove(ids))
      return wrk.format("POST", "/feedback", headers, body)
   elseif kind == "unknown_feedback" then
      local body = string.format(feedback, "0123456789abcdef0123456789abcdef")
      return wrk.format("POST", "/feedback", headers, body)
   end
   return wrk.format("POST", "/predict", headers, bodies[kind])
end

function response(status, _, body)
   count(statuses, tostring(status))
   if status == 200 and #ids < 100 and string.find(body, '"predictions"', 1, true) then
      local id = string.match(body, '"request_id":"(%x+)"')
      if id then
         table.insert(ids, id)
      end
   end
end

function done()
   local totals = { sent = {}, statuses = {} }
   for _, thread in ipairs(threads) do
      for _, name in ipairs({ "sent", "statuses" }) do
         for key, value in pairs(thread:get(name)) do
            totals[name][key] = (totals[name][key] or 0) + value
         end
      end
   end
   for kind, value in pairs(totals.sent) do
      io.write(string.format("soak sent %s %d\n", kind, value))
   end
   for code, value in pairs(totals.statuses) do
      io.write(string.format("soak status %s %d\n", code, value))
   end
end
