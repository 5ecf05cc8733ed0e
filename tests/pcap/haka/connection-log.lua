-- tcp-oneconnection / tcp-interleavedconnection of the original: log the
-- new and end events of every connection.
local tcp_connection = require('protocol/tcp_connection')

haka.rule{
	hook = tcp_connection.events.new_connection,
	eval = function (flow, pkt)
		haka.log("new tcp connection %s:%d -> %s:%d", flow.srcip,
			flow.srcport, flow.dstip, flow.dstport)
	end
}

haka.rule{
	hook = tcp_connection.events.end_connection,
	eval = function (flow)
		haka.log("end tcp connection %s:%d -> %s:%d", flow.srcip,
			flow.srcport, flow.dstip, flow.dstport)
	end
}
