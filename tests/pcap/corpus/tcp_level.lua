-- A TCP-level rule file touching every TCP event: replayed over every
-- public capture, it must run without a crash or a sanitizer report.
local tcp_connection = require('protocol/tcp_connection')
local bytes = 0

haka.rule{
	hook = tcp_connection.events.new_connection,
	eval = function (flow, pkt)
		assert(flow.srcport > 0 and pkt.dstport == flow.dstport)
	end
}

haka.rule{
	hook = tcp_connection.events.receive_data,
	eval = function (flow, data, direction)
		bytes = bytes + #data
		local s = data:asstring()
		assert(#s == #data)
	end
}

haka.rule{
	hook = tcp_connection.events.end_connection,
	eval = function (flow)
		assert(flow.state ~= nil)
	end
}
