-- doc-workshop-tcpfilter of the original: allow ports 22 and 80, drop
-- every other connection.
local tcp_connection = require('protocol/tcp_connection')

haka.rule{
	hook = tcp_connection.events.new_connection,
	eval = function (flow, pkt)
		if pkt.dstport == 80 or pkt.dstport == 22 then
			haka.log("Authorizing trafic on port %d", pkt.dstport)
		else
			haka.log("Trafic not authorized on port %d", pkt.dstport)
			pkt:drop()
		end
	end
}
