-- core-stream-rule of the original: a streamed rule on TCP data logs the
-- length of each piece as it arrives, then everything when the direction
-- ends (the coroutine waits between pieces).
local tcp_connection = require('protocol/tcp_connection')

haka.rule{
	hook = tcp_connection.events.receive_data,
	options = { streamed = true },
	eval = function (flow, iter, dir)
		local name = string.format("connection=%s:%d->%s:%d, dir %s",
			flow.srcip, flow.srcport, flow.dstip, flow.dstport, dir)
		local data = {}
		while iter:wait() do
			local sub = iter:sub('available')
			haka.log("%s, data received len=%d ", name, #sub)
			table.insert(data, sub:asstring())
		end
		haka.log("%s, data: %s", name, table.concat(data))
	end
}
