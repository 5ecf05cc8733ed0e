-- The Lua object of a connection: one per connection while a rule can
-- reach it, its fields readable in the packets that follow its end, and
-- nothing of it held by the engine once the connection has ended (a
-- closed connection stays in the table for 60 s of capture time). A new
-- object made for an ended connection whose old one was freed, with the
-- fields, is lvm_test's test_flow_proxy_lifetime: here each late packet
-- follows its connection's end before any collection.
local tcp_connection = require('protocol/tcp_connection')

local ended = setmetatable({}, {__mode = 'k'}) -- flows that ended
local held = {}                                -- a flow a rule keeps
local n = 0

-- A full collection (the rules have no collectgarbage): garbage is
-- made until an unreachable key leaves a weak table, twice, so that an
-- object unreachable before the first has been freed after the second.
local function full_gc()
	for _ = 1, 2 do
		local probe = setmetatable({}, {__mode = 'k'})
		probe[{}] = true
		local rounds = 0
		while next(probe) ~= nil do
			for i = 1, 1000 do local _ = {i} end
			rounds = rounds + 1
			assert(rounds < 100000, 'the collector never ran')
		end
	end
end

local function count(t)
	local c = 0
	for _ in pairs(t) do c = c + 1 end
	return c
end

haka.rule{
	on = tcp_connection.events.new_connection,
	eval = function (flow, pkt)
		n = n + 1
		flow.number = n
		flow.ended = false
		if n == 1 then held.first = flow end
		full_gc()
		haka.log("connection %d opens; ended connections whose object " ..
			"is still alive: %d", n, count(ended))
	end
}

haka.rule{
	on = tcp_connection.events.receive_packet,
	eval = function (flow, pkt, direction)
		-- The collector runs between the events of a connection: the
		-- object a rule keeps stays the connection's object. (A field
		-- lost would raise "unknown field" when read below.)
		full_gc()
		if flow.number == 1 and held.first ~= nil and
		    held.first ~= flow then
			haka.log("connection 1 has a new object")
		end
		if flow.ended then
			haka.log("connection %d: a packet after its end", flow.number)
		end
	end
}

haka.rule{
	on = tcp_connection.events.end_connection,
	eval = function (flow)
		haka.log("connection %d ends (same object as kept: %s)",
			flow.number, tostring(flow == held.first))
		flow.ended = true
		ended[flow] = true
		held.first = nil
	end
}

haka.rule{
	on = haka.events.exiting,
	eval = function ()
		full_gc()
		haka.log("at exit, ended connections whose object is still " ..
			"alive: %d", count(ended))
	end
}
